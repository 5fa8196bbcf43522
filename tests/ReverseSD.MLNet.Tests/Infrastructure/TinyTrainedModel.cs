using ReverseSD.MLNet.Data;
using Spectre.Console.Cli.Testing;

namespace ReverseSD.MLNet.Tests;

/// <summary>A tiny generated benchmark (40/10/10 images at 64 px) and one model trained on it with `reversesd train --bank none` (a zip without prompt bank).</summary>
public sealed class TinyTrainedModel : IDisposable
{
    public TinyTrainedModel()
    {
        Environment.SetEnvironmentVariable("CI", "true");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 40, Validation = 10, Test = 10, ImageSize = 64, Seed = 5 }, Data);
        TrainResult = CliRunner.Run("train", "--data", Data, "--out", Model, "--epochs", "3", "--vocab", "30", "--batch", "16",
            "--report", Directory.File("train-report.json"), "--cache-dir", Directory.File("cache"), "--bank", "none");
    }

    internal TempDirectory Directory { get; } = new();

    public string Data => Directory.File("data");

    public string Model => Directory.File("model.zip");

    internal CommandAppResult TrainResult { get; }

    public void Dispose() => Directory.Dispose();
}
