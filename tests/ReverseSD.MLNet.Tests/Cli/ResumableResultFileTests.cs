using ReverseSD.Cli;
using ReverseSD.MLNet.Backbones;

namespace ReverseSD.MLNet.Tests.Cli;

public sealed class ResumableResultFileTests
{
    private static ResultRecord Record(int i) => new ResultRecord().Text("image", $"img, {i}").Number("score", 0.1f * i).Vector("embedding", [i, -i], csvPrefix: "e");

    /// <summary>Writes records [from, to) a chunk of <paramref name="chunk"/> at a time, record 3 skipped; stops (as killed) after <paramref name="stopAfter"/> records.</summary>
    private static ResumableResultFile Write(string path, ResultFormat format, string key, int to, int chunk, int stopAfter = int.MaxValue)
    {
        var file = ResumableResultFile.Open(path, format, key);
        var skipped = new List<UnreadableImage>();
        for (int i = file.InputsDone; i < to && i < stopAfter; i++)
        {
            if (i == 3) skipped.Add(new UnreadableImage($"img{i}", "not a png"));
            else file.Results.Write(Record(i));
            if ((i + 1) % chunk == 0 || i + 1 == to)
            {
                file.Keep(i + 1, skipped);
                skipped.Clear();
            }
        }
        return file;
    }

    [Theory]
    [InlineData("json")]
    [InlineData("jsonl")]
    [InlineData("csv")]
    public void ARunStoppedMidChunkContinuesAfterItsLastKeptChunkAndEndsEqualToAnUninterruptedRun(string extension)
    {
        var format = Enum.Parse<ResultFormat>(extension, ignoreCase: true);
        string name = "out." + extension;
        using var dir = new TempDirectory();
        string whole = dir.File("whole-" + name), resumed = dir.File(name);
        using (var file = Write(whole, format, "k", 20, 4)) file.Complete();

        // Stopped after 10 records: chunks 0-3 and 4-7 kept, records 8 and 9 written but not kept.
        using (Write(resumed, format, "k", 20, 4, stopAfter: 10)) { }
        Assert.False(File.Exists(resumed));
        Assert.True(File.Exists(resumed + ".partial"));

        using (var file = ResumableResultFile.Open(resumed, format, "k"))
        {
            Assert.True(file.Resumed);
            Assert.Equal(8, file.InputsDone);
            Assert.Equal([new UnreadableImage("img3", "not a png")], file.Skipped);
        }
        using (var file = Write(resumed, format, "k", 20, 4)) file.Complete();

        Assert.Equal(File.ReadAllText(whole), File.ReadAllText(resumed));
        Assert.False(File.Exists(resumed + ".partial"));
        Assert.False(File.Exists(resumed + ".partial.json"));
    }

    [Fact]
    public void APartialFileOfOtherArgumentsIsDiscarded()
    {
        using var dir = new TempDirectory();
        string path = dir.File("out.jsonl");
        using (Write(path, ResultFormat.Jsonl, "first", 20, 4, stopAfter: 10)) { }
        using (var file = ResumableResultFile.Open(path, ResultFormat.Jsonl, "second"))
        {
            Assert.False(file.Resumed);
            Assert.Equal(0, file.InputsDone);
            Assert.Empty(file.Skipped);
            Assert.Equal(0, new FileInfo(path + ".partial").Length);
        }
        Assert.False(File.Exists(path + ".partial")); // nothing kept: nothing left
    }

    [Fact]
    public void ASecondRunOnTheSameOutIsRefusedWhileTheFirstWrites()
    {
        using var dir = new TempDirectory();
        string path = dir.File("out.jsonl");
        using var first = ResumableResultFile.Open(path, ResultFormat.Jsonl, "k");
        var error = Assert.Throws<ReverseSdInputException>(() => ResumableResultFile.Open(path, ResultFormat.Jsonl, "k"));
        Assert.Contains("out.jsonl.partial", error.Message);
    }

    [Fact]
    public void KeysDifferWhenAnyValueDiffers()
    {
        Assert.Equal(ResumableResultFile.Key(["a", "b"]), ResumableResultFile.Key(["a", "b"]));
        Assert.NotEqual(ResumableResultFile.Key(["a", "b"]), ResumableResultFile.Key(["a", "c"]));
        Assert.NotEqual(ResumableResultFile.Key(["a", "b"]), ResumableResultFile.Key(["ab"]));
    }
}
