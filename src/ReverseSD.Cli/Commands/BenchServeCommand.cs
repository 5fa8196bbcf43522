using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.Serving;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>
/// `reversesd bench serve`: starts the server on a loopback port, sends a bounded number of single-image requests from
/// concurrent clients, stops, and prints requests/s, latency percentiles, errors and memory next to batch predict's
/// images/s on the same images in the same run.
/// </summary>
internal sealed class BenchServeCommand(IAnsiConsole console, CliStreams streams) : AsyncCommand<BenchServeCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--model <PATH>")]
        [Description("Model zip to serve; without it a small model is trained on a generated benchmark first (its speed is a real model's: the backbone dominates).")]
        public string? Model { get; init; }

        [CommandOption("--requests <N>")]
        [Description("Requests to send, one image each (default 2000).")]
        public int Requests { get; init; } = 2000;

        [CommandOption("--concurrency <N>")]
        [Description("Concurrent clients (default 8).")]
        public int Concurrency { get; init; } = 8;

        [CommandOption("--max-concurrency <N>")]
        [Description("The server's scorers (default: the number of cores), as `serve --max-concurrency`.")]
        public int? MaxConcurrency { get; init; }

        [CommandOption("--images <DIR>")]
        [Description("Folder of PNG/JPEG images to send (cycled); default: generated 512 px PNGs.")]
        public string? Images { get; init; }

        [CommandOption("--image-count <N>")]
        [Description("Number of generated images when --images is not given (default 64).")]
        public int ImageCount { get; init; } = 64;

        public override ValidationResult Validate() =>
            Requests is < 1 or > 1_000_000 ? ValidationResult.Error("--requests must be 1..1000000.")
            : Concurrency is < 1 or > 256 ? ValidationResult.Error("--concurrency must be 1..256.")
            : MaxConcurrency is < 1 ? ValidationResult.Error("--max-concurrency must be >= 1.")
            : ImageCount is < 1 or > 10_000 ? ValidationResult.Error("--image-count must be 1..10000.")
            : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        string work = Path.Combine(Path.GetTempPath(), "reversesd-bench-serve-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            var images = PrepareImages(settings, work, cancellationToken);
            string model = settings.Model ?? TrainSmallModel(work, cancellationToken);

            // 1. Batch predict: the library call `reversesd predict` makes, on the same images, in this process.
            double predictImagesPerSecond;
            var ml = new MLContext(1);
            using (var loaded = ReverseSdModel.Load(ml, model) as IDisposable)
            {
                var transformer = (ITransformer)loaded!;
                ReverseSdModel.Predict(ml, transformer, images.Take(4).ToList(), 10, out _);
                int passes = Math.Max(1, (int)Math.Ceiling(128.0 / images.Count));
                var clock = Stopwatch.StartNew();
                int scored = 0;
                for (int p = 0; p < passes; p++)
                    scored += ReverseSdModel.Predict(ml, transformer, images, 10, out _).Count;
                predictImagesPerSecond = scored / clock.Elapsed.TotalSeconds;
                streams.Error.WriteLine($"batch predict: {scored} images in {clock.Elapsed.TotalSeconds:F1} s");
            }

            // 2. The server on a loopback port, loaded once, then the bounded load.
            var options = new ServeOptions
            {
                ModelPath = model,
                Urls = "http://127.0.0.1:0",
                MaxConcurrency = settings.MaxConcurrency ?? Environment.ProcessorCount,
                MaxQueue = Math.Max(ServeOptions.Defaults.MaxQueue, settings.Concurrency),
            };
            using var scoring = new PromptScoringService(options);
            await using var app = ReverseSdServer.Build(options, scoring);
            await app.StartAsync(cancellationToken);
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
            var bytes = images.Select(File.ReadAllBytes).ToList();
            // Warm-up: one request per client, not counted.
            await ServeLoadTest.RunAsync(address, bytes, settings.Concurrency, settings.Concurrency, null, cancellationToken);
            var progress = new Progress<int>(n =>
            {
                if (n % Math.Max(1, settings.Requests / 10) == 0) streams.Error.WriteLine($"bench serve: {n}/{settings.Requests} requests answered");
            });
            var result = await ServeLoadTest.RunAsync(address, bytes, settings.Requests, settings.Concurrency, progress, cancellationToken);
            await app.StopAsync(CancellationToken.None);

            static string Mb(long bytes) => (bytes / (1024.0 * 1024)).ToString("F0", CultureInfo.InvariantCulture) + " MiB";
            static string F(double v, string format = "F1") => v.ToString(format, CultureInfo.InvariantCulture);
            var table = new Table().AddColumns("measure", "value");
            table.AddRow("images", Markup.Escape($"{images.Count} ({(settings.Images ?? "generated 512 px PNGs")})"));
            table.AddRow("model", Markup.Escape(Path.GetFileName(model) + (settings.Model == null ? " (small model trained for the bench)" : "")));
            table.AddRow("requests / clients / server scorers", $"{result.Requests} / {settings.Concurrency} / {options.MaxConcurrency}");
            table.AddRow("server requests/s", F(result.RequestsPerSecond));
            table.AddRow("batch predict images/s (same images, same run)", F(predictImagesPerSecond));
            table.AddRow("ratio server / batch predict (goal >= 0.8)", F(result.RequestsPerSecond / predictImagesPerSecond, "F2"));
            table.AddRow("latency p50 / p95 / p99", $"{F(result.Percentile(0.50))} / {F(result.Percentile(0.95))} / {F(result.Percentile(0.99))} ms");
            table.AddRow("errors (must be 0)", result.Errors.ToString(CultureInfo.InvariantCulture));
            table.AddRow("resident memory after 10% / at the end / peak", $"{Mb(result.RssAfterFirstTenthBytes)} / {Mb(result.RssAtEndBytes)} / {Mb(result.PeakRssBytes)}");
            table.AddRow("load average (1 min)", LoadAverage());
            table.AddRow("processors", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture));
            console.Write(table);
            if (result.FirstError != null) streams.Error.WriteLine($"first error: {result.FirstError}");
            return result.Errors == 0 ? 0 : CliApp.Failure;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static List<string> PrepareImages(Settings settings, string work, CancellationToken cancellationToken)
    {
        if (settings.Images != null)
        {
            if (!Directory.Exists(settings.Images))
                throw new ReverseSdInputException($"--images '{settings.Images}' is not a folder: give a folder of PNG/JPEG images.");
            return PredictCommand.ExpandImages([settings.Images]);
        }
        string data = Path.Combine(work, "images");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 1, Validation = 1, Test = settings.ImageCount, ImageSize = 512, Seed = 11 },
            data, null, cancellationToken);
        return PredictCommand.ExpandImages([Path.Combine(data, "test")]);
    }

    private string TrainSmallModel(string work, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        string data = Path.Combine(work, "train-data");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 48, Validation = 8, Test = 8, ImageSize = 128, Seed = 7 }, data, null, cancellationToken);
        var ml = new MLContext(1);
        using var trained = ReverseSdModel.Train(ml, data, new ReverseSdTrainingOptions
        {
            VocabularySize = 50,
            CacheDirectory = Path.Combine(work, "cache"),
            Heads = new PromptEmbeddingHeadsTrainer.Options { NumberOfEpochs = 2, BatchSize = 16, Device = HeadsDevice.Cpu },
        }, null, cancellationToken);
        string model = Path.Combine(work, "model.zip");
        trained.Save(model);
        streams.Error.WriteLine($"no --model: trained a small model on a generated benchmark in {clock.Elapsed.TotalSeconds:F0} s");
        return model;
    }

    private static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";
        }
        catch (IOException)
        {
            return "n/a";
        }
    }
}
