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
        var result = CliRunner.Run("bench", "backbone", "--backbone", model, "--preprocessing", "size=16", "--images", "2", "--image-size", "32");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("ms/image", result.Output);
        Assert.Contains("feature size", result.Output);
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
