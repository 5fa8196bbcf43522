using ReverseSD.Cli;

namespace ReverseSD.MLNet.Tests.Cli;

/// <summary>Conventions every command shares: errors on stderr in one line with exit 2, suggestions, --version.</summary>
public sealed class CliConventionsTests
{
    [Theory]
    [InlineData("predct", "Did you mean 'predict'?")]
    [InlineData("evalute", "Did you mean 'evaluate'?")]
    public void AnUnknownCommandSuggestsTheNearestOnStderrAndExitsWithTwo(string command, string suggestion)
    {
        var run = CliProcess.Run(command, "--model", "m.zip");
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Equal($"error: Unknown command '{command}'. {suggestion} See 'reversesd --help'.", Assert.Single(run.ErrorLines));
    }

    [Fact]
    public void AnUnknownCommandInABranchSuggestsTheNearestSubcommand()
    {
        var run = CliProcess.Run("data", "diffusondb", "--out", "x");
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Contains("Did you mean 'diffusiondb'?", Assert.Single(run.ErrorLines));
    }

    [Theory]
    [InlineData("--modle", "--model")]
    [InlineData("--top-word", "--top-words")]
    [InlineData("--formt", "--format")]
    public void AnUnknownOptionSuggestsTheNearestOption(string given, string suggested)
    {
        var run = CliProcess.Run("predict", "image.png", given, "x");
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Contains($"Did you mean '{suggested}'?", Assert.Single(run.ErrorLines));
    }

    [Theory]
    [InlineData("--top-words expects a whole number; got 'abc'.", "predict", "x.png", "--model", "m.zip", "--top-words", "abc")]
    [InlineData("--lambda expects a number (e.g. 0.1); got 'abc'.", "train", "--data", "d", "--lambda", "abc")]
    [InlineData("--epochs expects a whole number; got '1.5'.", "train", "--data", "d", "--epochs=1.5")]
    [InlineData("--format expects one of json, jsonl, csv (any case); got 'parquet'.", "predict", "x.png", "--model", "m.zip", "--format", "parquet")]
    public void AValueOfTheWrongTypeNamesTheOptionAndWhatItExpects(string message, params string[] args)
    {
        var run = CliProcess.Run(args);
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Equal("error: " + message, Assert.Single(run.ErrorLines));
    }

    [Fact]
    public void BadInputGoesToStderrOnOneLineEvenWhenLong()
    {
        using var dir = new TempDirectory();
        string missing = dir.File(new string('m', 150) + ".zip");
        var run = CliProcess.Run("predict", dir.Path, "--model", missing);
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("", run.Out);
        var line = Assert.Single(run.ErrorLines);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void VersionPrintsTheToolVersionAndTheModelFormat()
    {
        var run = CliProcess.Run("--version");
        Assert.Equal(0, run.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+\S* \(model format reversesd-model/\d+\)\n$", run.Out);
        Assert.Equal(CliApp.VersionText + "\n", run.Out);
    }

    [Theory]
    [InlineData("predict", "predicy", 1)]
    [InlineData("--model", "--modle", 2)]
    [InlineData("abc", "abc", 0)]
    public void EditDistanceCountsInsertionsDeletionsAndSubstitutions(string a, string b, int distance) =>
        Assert.Equal(distance, CliApp.EditDistance(a, b));
}
