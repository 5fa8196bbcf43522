using ReverseSD.Cli;
using Spectre.Console.Cli.Testing;

namespace ReverseSD.MLNet.Tests.Cli;

public sealed class CliErrorTests
{
    [Fact]
    public void BadInputPrintsOneErrorLineOnTheCommandsConsoleAndExitsWithTwo()
    {
        using var dir = new TempDirectory();
        var result = CliRunner.Run("data", "diffusiondb", "--source", dir.File("missing-folder"), "--out", dir.File("out"));
        Assert.Equal(CliApp.BadInput, result.ExitCode);
        Assert.Contains("error:", result.Output);
        Assert.Contains("missing-folder", result.Output);
    }
}
