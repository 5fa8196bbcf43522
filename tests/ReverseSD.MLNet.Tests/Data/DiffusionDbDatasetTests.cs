using System.IO.Compression;
using System.Text;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Tests.Data;

public sealed class DiffusionDbDatasetTests
{
    private static string MakeZip(TempDirectory tmp)
    {
        string zip = tmp.File("part-000001.zip");
        var json = new StringBuilder("{");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            for (int i = 0; i < 30; i++)
            {
                DiffusionDbReaderTests.Add(archive, $"img{i:D2}.png", DiffusionDbReaderTests.Png(4, 4, null));
                json.Append($"\"img{i:D2}.png\": {{\"p\": \"prompt number {i % 20} \", \"se\": {i}, \"c\": 7.0, \"st\": 50, \"sa\": \"k_lms\"}},");
            }
            json.Append("\"gone.png\": {\"p\": \"an image that is not in the zip\", \"se\": 1, \"c\": 7.0, \"st\": 50, \"sa\": \"k_lms\"},");
            json.Append("\"nan.png\": {\"p\": \"NaN\", \"se\": 1, \"c\": 7.0, \"st\": 50, \"sa\": \"k_lms\"}}");
            DiffusionDbReaderTests.Add(archive, "part-000001.json", Encoding.UTF8.GetBytes(json.ToString()));
        }
        return zip;
    }

    [Fact]
    public void PrepareExtractsKeptImagesIntoSplitFolders()
    {
        using var tmp = new TempDirectory();
        string zip = MakeZip(tmp);
        string output = tmp.File("out");
        var summary = DiffusionDbDataset.Prepare([zip], output, new DiffusionDbPrepareOptions { Split = new SplitFractions(0.6, 0.2, 0.2), Seed = 3 });
        Assert.Equal((32, 30, 1, 31), (summary.Filters.Input, summary.Filters.Trimmed, summary.Filters.RemovedNoWordOrNull, summary.Filters.Kept));
        Assert.Equal((30, 1), (summary.ImagesWritten, summary.MissingImages));
        var all = ImageFolderDataset.Splits.SelectMany(s => ImageFolderDataset.Read(output, s).Select(p => (Split: s, Pair: p))).ToList();
        Assert.Equal(30, all.Count);
        Assert.All(all, x => Assert.True(File.Exists(Path.Combine(output, x.Split, x.Pair.FileName))));
        Assert.All(all, x => Assert.Equal(x.Pair.Prompt.Trim(), x.Pair.Prompt));
        Assert.All(all.GroupBy(x => x.Pair.Prompt), g => Assert.Single(g.Select(x => x.Split).Distinct()));
        Assert.Equal(20, all.Select(x => x.Pair.Prompt).Distinct().Count());
        Assert.Equal(31, summary.Train + summary.Validation + summary.Test); // split counts include the pair without image
        Assert.Equal(summary.Train + summary.Validation + summary.Test, all.Count + summary.MissingImages);
    }

    [Fact]
    public void PromptsOnlyWritesEveryKeptPairWithItsSplit()
    {
        using var tmp = new TempDirectory();
        string zip = MakeZip(tmp);
        string output = tmp.File("out");
        var summary = DiffusionDbDataset.Prepare([zip], output, new DiffusionDbPrepareOptions { PromptsOnly = true });
        var (header, rows) = CsvTable.Read(Path.Combine(output, DiffusionDbDataset.PromptsFileName));
        Assert.Equal(31, rows.Count);
        Assert.Contains(rows, r => r[0] == "gone.png");
        Assert.False(Directory.Exists(Path.Combine(output, "train")));
        Assert.Equal("k_lms", rows[0][CsvTable.IndexOf(header, "sampler")]);
        Assert.Equal(summary.PromptsFile, Path.Combine(Path.GetFullPath(output), "prompts.csv"));
    }
}
