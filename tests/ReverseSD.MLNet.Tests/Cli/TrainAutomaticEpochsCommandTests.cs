using System.Text.Json;

namespace ReverseSD.MLNet.Tests.Cli;

public sealed class AutomaticEpochsCommandTests(TinyTrainedModel tiny) : IClassFixture<TinyTrainedModel>
{
    [Fact]
    public void TrainWithAutomaticEpochsReportsWhyItStoppedAndWarnsOfATinyValidationSplit()
    {
        string report = tiny.Directory.File("auto-report.json");
        var result = CliRunner.Run("train", "--data", tiny.Data, "--out", tiny.Directory.File("auto.zip"), "--vocab", "30", "--batch-size", "16",
            "--report", report, "--cache-dir", tiny.Directory.File("cache"));
        Assert.True(result.ExitCode == 0, result.Output);
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var options = json.RootElement.GetProperty("options");
        Assert.StartsWith("auto (", options.GetProperty("epochs").GetString());
        Assert.True(options.GetProperty("steps_run").GetInt64() >= 300, options.GetProperty("steps_run").ToString());
        Assert.Contains("only 10 pairs", options.GetProperty("validation_note").GetString());
        Assert.Contains("note: the validation split has only 10 pairs", result.Output);
        // The progress lines count epochs without a total (the 10,000-step cap is not an epoch count) and say when it stops.
        Assert.DoesNotMatch(@"training heads \d+/", result.Output);
        Assert.Matches(@"training heads \d+ epoch \d+: .*best epoch \d+, stops after 5 epochs without gain", result.Output);
    }
}
