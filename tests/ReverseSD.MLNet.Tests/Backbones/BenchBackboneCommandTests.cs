using ReverseSD.Cli;
using Spectre.Console.Cli.Testing;
using static ReverseSD.MLNet.Tests.Backbones.BackboneTestData;

namespace ReverseSD.MLNet.Tests.Backbones;

public sealed class BenchBackboneCommandTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public void BenchBackbonePrintsMillisecondsPerImageForAGivenEncoder()
    {
        using var dir = new TempDirectory();
        string model = WriteChannelMeanModel(dir.File("tiny.onnx"));
        var result = CliRunner.Run("bench", "backbone", "--backbone", model, "--preprocessing", "size=16", "--count", "2", "--image-size", "32");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("ms/image", result.Output);
        Assert.Contains("feature size 3", result.Output);
        Assert.Contains("fast path / raw ONNX Runtime", result.Output);
        Assert.Contains("fast path / ML.NET chain", result.Output);
        Assert.Matches(@"the cores' float32 peak \(multiply-adds on registers alone, \d+ threads\): \d+\.\d GFLOP/s", result.Output);
    }

    [Fact]
    public void BenchBackboneTimesTheFilesOfAFolderWithImages()
    {
        using var dir = new TempDirectory();
        string model = WriteChannelMeanModel(dir.File("tiny.onnx"));
        Directory.CreateDirectory(dir.File("images"));
        for (int i = 0; i < 3; i++) WritePng(dir.File($"images/{i}.png"), seed: i);
        var result = CliRunner.Run("bench", "backbone", "--backbone", model, "--preprocessing", "size=16", "--images", dir.File("images"));

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("3 files of", result.Output);
        Assert.Contains("ML.NET chain / raw ONNX Runtime", result.Output);
    }

    [Fact]
    public void BenchBackboneWithAnOnnxFileButNoSpecIsBadInput()
    {
        using var dir = new TempDirectory();
        string model = WriteChannelMeanModel(dir.File("tiny.onnx"));
        var result = CliRunner.Run("bench", "backbone", "--backbone", model);

        Assert.Equal(CliApp.BadInput, result.ExitCode);
    }
}
