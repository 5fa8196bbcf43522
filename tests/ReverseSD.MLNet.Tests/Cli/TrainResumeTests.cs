using System.IO.Compression;
using System.Text.Json.Nodes;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Tests.Cli;

[Trait("Category", "Slow")]
public sealed class TrainResumeTests
{
    [Fact]
    public void TrainKilledAfterItsFirstFeatureChunkContinuesOnRestartAndSavesTheSameModelAndReport()
    {
        using var dir = new TempDirectory();
        string data = dir.File("data");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 60, Validation = 15, Test = 15, ImageSize = 64, Seed = 12 }, data);
        string[] Args(string name) => ["train", "--data", data, "--out", dir.File(name + ".zip"), "--report", dir.File(name + ".json"),
            "--cache-dir", dir.File(name + "-cache"), "--chunk-size", "4", "--epochs", "3", "--vocab", "30", "--batch-size", "16"];
        string cache = dir.File("killed-cache"), scratch = dir.File("killed-tmp");
        Directory.CreateDirectory(scratch);

        CliChildProcess.KillOnceWorkIsKept(scratch,
            () => Directory.Exists(cache) && Directory.GetFiles(cache, "chunk-000000.bin", SearchOption.AllDirectories).Length > 0, Args("killed"));
        var atKill = Assert.Single(FeatureCache.Status(cache));   // the train split, the first one featurised
        Assert.Equal("train", atKill.Split);
        Assert.InRange(atKill.ChunksDone[0], 1, atKill.ChunksTotal[0] - 1);
        Assert.False(File.Exists(dir.File("killed.zip")));

        var resumed = CliProcess.Run(Args("killed"));
        var uninterrupted = CliProcess.Run(Args("whole"));

        Assert.True(resumed.ExitCode == 0, resumed.Error + resumed.Out);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Error + uninterrupted.Out);
        Assert.Equal(ZipContents(dir.File("whole.zip")), ZipContents(dir.File("killed.zip")));
        Assert.Equal(ReportWithoutTimes(dir.File("whole.json")), ReportWithoutTimes(dir.File("killed.json")));
        Assert.Equal(File.ReadAllText(dir.File("whole-samples.csv")), File.ReadAllText(dir.File("killed-samples.csv")));
    }

    /// <summary>Every entry of a zip as name and SHA-256 (entry time stamps are the save time, so the files themselves differ).</summary>
    private static List<(string Name, string Sha256)> ZipContents(string zip)
    {
        using var archive = ZipFile.OpenRead(zip);
        return archive.Entries.Select(e =>
        {
            using var s = e.Open();
            return (e.FullName, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(s)));
        }).OrderBy(e => e.FullName, StringComparer.Ordinal).ToList();
    }

    /// <summary>The report's JSON without the per-epoch wall times, which differ between any two runs, and its CSV's file name.</summary>
    private static string ReportWithoutTimes(string path)
    {
        var report = JsonNode.Parse(File.ReadAllText(path))!;
        report.AsObject().Remove("per_sample_csv");
        foreach (var epoch in report["training_history"]!.AsArray()) epoch!.AsObject().Remove("seconds");
        return report.ToJsonString();
    }
}
