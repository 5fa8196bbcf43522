using ReverseSD.Cli;
using ReverseSD.MLNet.Data;
using Spectre.Console.Cli.Testing;

namespace ReverseSD.MLNet.Tests.Data;

public sealed class DataCommandsTests
{
    [SkippableFact]
    [Trait("Category", "Slow")]
    public void DiffusionDbCommandReadsSeveralSourcesAfterOneOptionAndPrintsFilterCounts()
    {
        Skip.IfNot(SharedData.Available, SharedData.SkipReason);
        using var tmp = new TempDirectory();
        var result = CliRunner.Run("data", "diffusiondb", "--source", SharedData.PathOf("diffusiondb-format", "2m"),
            SharedData.PathOf("diffusiondb-format", "large"), "--out", tmp.File("out"), "--prompts-only");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("json entries", result.Output);
        Assert.Contains("10,000", result.Output);
        Assert.Contains("(iv) removed: near duplicates", result.Output);
        var expected = PromptFilters.Apply(DiffusionDbReader.Read(
            [SharedData.PathOf("diffusiondb-format", "2m"), SharedData.PathOf("diffusiondb-format", "large")]).Pairs.Select(p => p.Prompt).ToList());
        var (_, rows) = CsvTable.Read(tmp.File("out/prompts.csv"));
        Assert.Equal(expected.Summary.Kept, rows.Count);
    }

    [Fact]
    public void DiffusionDbCommandRejectsMissingSourceWithExitCodeTwo()
    {
        using var tmp = new TempDirectory();
        var result = CliRunner.Run("data", "diffusiondb", "--source", tmp.File("nothing-here"), "--out", tmp.File("out"));
        Assert.Equal(CliApp.BadInput, result.ExitCode);
    }

    [Fact]
    public void DiffusionDbCommandRejectsBadSplit()
    {
        using var tmp = new TempDirectory();
        var result = CliRunner.Run("data", "diffusiondb", "--source", tmp.Path, "--out", tmp.File("out"), "--split", "0.5,0.5");
        Assert.Equal(CliApp.BadInput, result.ExitCode);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void SynthCommandWritesTheThreeSplits()
    {
        using var tmp = new TempDirectory();
        var result = CliRunner.Run("data", "synth", "--out", tmp.Path, "--train", "6", "--validation", "2", "--test", "2",
            "--size", "48", "--label-noise", "0.5", "--domain-shift", "--seed", "3");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(6, ImageFolderDataset.Read(tmp.Path, "train").Count);
        Assert.Equal(3, ImageFolderDataset.Read(tmp.Path, "train").Count(p => p.IsNoisy));
        Assert.All(ImageFolderDataset.Read(tmp.Path, "test"), p => Assert.Equal("target", p.Domain));
        Assert.Contains("noisy training pairs: 3", result.Output);
    }

    [Fact]
    public void SynthCommandRejectsOutOfRangeNoise()
    {
        using var tmp = new TempDirectory();
        Assert.Equal(CliApp.BadInput, CliRunner.Run("data", "synth", "--out", tmp.Path, "--label-noise", "2").ExitCode);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void BenchFiltersPrintsTimings()
    {
        var result = CliRunner.Run("bench", "filters", "--count", "20000");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("four filters (s)", result.Output);
        Assert.Contains("20,000", result.Output);
    }
}
