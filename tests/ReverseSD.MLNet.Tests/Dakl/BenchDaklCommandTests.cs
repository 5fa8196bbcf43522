using ReverseSD.Cli;
using Spectre.Console.Cli.Testing;

namespace ReverseSD.MLNet.Tests.Dakl;

public sealed class BenchDaklCommandTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public void PrintsTheTimeOfEachFitStepAndThePeakMemory()
    {
        var result = CliRunner.Run("bench", "dakl", "-r", "20", "-p", "30", "-d", "8", "-n", "100", "--kmeans-iterations", "3");
        Assert.Equal(0, result.ExitCode);
        foreach (string step in new[] { "k-means", "centroid targets", "kernel", "solve", "W = K_DA", "peak working set", "GFLOP/s", "kernel / plain" })
            Assert.Contains(step, result.Output);
    }

    [Fact]
    public void KMeansOnlyPrintsTheKMeansTimeAndItsRatioToAPlainProductAndSkipsTheRestOfTheFit()
    {
        var result = CliRunner.Run("bench", "dakl", "-r", "20", "-d", "8", "-n", "200", "--kmeans-iterations", "3", "--kmeans-only");
        Assert.True(result.ExitCode == 0, result.Output);
        foreach (string text in new[] { "k-means:", "s per iteration", "GFLOP/s", "k-means / plain:", "peak working set" })
            Assert.Contains(text, result.Output);
        Assert.DoesNotContain("kernel / plain", result.Output);
    }

    [Fact]
    public void AnUnknownKMeansEngineIsRejected()
    {
        var result = CliRunner.Run("bench", "dakl", "--kmeans", "sklearn");
        Assert.Equal(CliApp.BadInput, result.ExitCode);
        Assert.Contains("--kmeans", result.Output);
    }
}
