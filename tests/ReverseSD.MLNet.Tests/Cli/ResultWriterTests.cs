using System.Text.Json;
using Microsoft.VisualBasic.FileIO;
using ReverseSD.Cli;

namespace ReverseSD.MLNet.Tests.Cli;

public sealed class ResultWriterTests
{
    private static readonly string[] Awkward = ["plain", "a, comma", "a \"quote\"", "two\nlines", " edge space ", "Café ☕"];

    private static ResultRecord Record(int i) => new ResultRecord()
        .Text("image", Awkward[i % Awkward.Length])
        .Number("score", 0.1f * i)
        .List("top_words", [new ResultRecord().Text("word", "a,b").Number("probability", 0.5f)])
        .Vector("embedding", [i, -i, 0.25f], csvPrefix: "e");

    private static (string Out, CliStreams Streams) Capture(Action<CliStreams> write)
    {
        var output = new StringWriter();
        var streams = new CliStreams(output, new StringWriter());
        write(streams);
        return (output.ToString(), streams);
    }

    internal static List<string[]> ParseCsv(string text)
    {
        using var parser = new TextFieldParser(new StringReader(text)) { HasFieldsEnclosedInQuotes = true, TrimWhiteSpace = false };
        parser.SetDelimiters(",");
        var rows = new List<string[]>();
        while (!parser.EndOfData) rows.Add(parser.ReadFields()!);
        return rows;
    }

    [Fact]
    public void CsvHasOneRecordPerResultThatAStandardCsvReaderParsesBackToTheJsonValues()
    {
        var (csv, _) = Capture(s =>
        {
            using var w = ResultWriter.Open(s, null, ResultFormat.Csv);
            for (int i = 0; i < Awkward.Length; i++) w.Write(Record(i));
            w.Complete();
        });
        var (json, _) = Capture(s =>
        {
            using var w = ResultWriter.Open(s, null, ResultFormat.Json);
            for (int i = 0; i < Awkward.Length; i++) w.Write(Record(i));
            w.Complete();
        });
        var rows = ParseCsv(csv);
        Assert.Equal(["image", "score", "top_words", "e0", "e1", "e2"], rows[0]);
        using var doc = JsonDocument.Parse(json);
        var items = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(Awkward.Length, rows.Count - 1);
        Assert.Equal(Awkward.Length, items.Count);
        for (int i = 0; i < items.Count; i++)
        {
            var row = rows[i + 1];
            Assert.Equal(items[i].GetProperty("image").GetString(), row[0]);
            Assert.Equal(items[i].GetProperty("score").GetSingle(), float.Parse(row[1], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(items[i].GetProperty("top_words").GetRawText(), row[2]);
            Assert.Equal(items[i].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()),
                row[3..].Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    [Fact]
    public void JsonLinesHaveOneObjectPerLineAndFloatsKeepFloatPrecision()
    {
        var (text, _) = Capture(s =>
        {
            using var w = ResultWriter.Open(s, null, ResultFormat.Jsonl);
            w.Write(new ResultRecord().Number("lambda", 0.1f));
            w.Write(new ResultRecord().Number("lambda", 0.2f));
            w.Complete();
        });
        Assert.Equal("{\"lambda\":0.1}\n{\"lambda\":0.2}\n", text);
    }

    [Fact]
    public void AnEmptyJsonResultIsAnEmptyArrayAndNothingIsWrittenBeforeTheFirstRecord()
    {
        var (text, streams) = Capture(_ => { });
        using (var w = ResultWriter.Open(streams, null, null))
        {
            Assert.Equal("", streams.Out.ToString());
            w.Complete();
        }
        Assert.Equal("[]\n", streams.Out.ToString());
        Assert.Equal("", text);
    }

    [Fact]
    public void AFileAppearsOnlyWhenCompleteAndAFailedRunLeavesNothing()
    {
        using var dir = new TempDirectory();
        var streams = new CliStreams(new StringWriter(), new StringWriter());
        string path = dir.File("out.jsonl");
        using (var w = ResultWriter.Open(streams, path, null))
        {
            w.Write(Record(1));
            Assert.False(File.Exists(path));
        }
        Assert.Empty(Directory.GetFiles(dir.Path));
        using (var w = ResultWriter.Open(streams, path, null))
        {
            w.Write(Record(1));
            w.Complete();
        }
        Assert.Equal(JsonDocument.Parse(File.ReadAllText(path).Trim()).RootElement.GetProperty("image").GetString(), Awkward[1]);
        Assert.Equal([path], Directory.GetFiles(dir.Path));
        Assert.Equal("", streams.Out.ToString());
    }

    [Theory]
    [InlineData("x.parquet", null, "unknown extension")]
    [InlineData("x.json", "csv", "make them agree")]
    public void AnOutputPathThatDoesNotSayTheFormatIsRefused(string path, string? format, string message)
    {
        var ex = Assert.Throws<ReverseSdInputException>(() => ResultWriter.ChooseFormat(Parse(format), path));
        Assert.Contains(message, ex.Message);
    }

    [Theory]
    [InlineData("x.csv", null, "csv")]
    [InlineData("x.JSONL", null, "jsonl")]
    [InlineData("x.txt", "jsonl", "jsonl")]
    [InlineData(null, null, "json")]
    public void TheFormatComesFromTheOptionOrTheExtension(string? path, string? format, string expected) =>
        Assert.Equal(Parse(expected), ResultWriter.ChooseFormat(Parse(format), path));

    private static ResultFormat? Parse(string? format) => format == null ? null : Enum.Parse<ResultFormat>(format, ignoreCase: true);
}
