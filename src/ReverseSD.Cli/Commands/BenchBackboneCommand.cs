using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using SkiaSharp;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd bench backbone`: times an image backbone on generated images through the library's ML.NET pipeline.</summary>
internal sealed class BenchBackboneCommand(IAnsiConsole console) : Command<BenchBackboneCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--backbone <NAME>")]
        [Description("resnet18, resnet18-SIZE (e.g. resnet18-288) or the path of an .onnx image encoder (default resnet18).")]
        public string Backbone { get; init; } = "resnet18";

        [CommandOption("--preprocessing <SPEC>")]
        [Description("Preprocessing of an .onnx encoder: compact spec (size=224,mean=...,std=...,output=...) or a JSON file.")]
        public string? Preprocessing { get; init; }

        [CommandOption("--images <N>")]
        [Description("Number of generated images to featurise (default 50; after 2 warm-up images).")]
        public int Images { get; init; } = 50;

        [CommandOption("--image-size <PX>")]
        [Description("Side of the generated square PNGs (default 512, as Stable Diffusion images).")]
        public int ImageSize { get; init; } = 512;

        public override ValidationResult Validate() =>
            Images < 1 ? ValidationResult.Error("--images must be at least 1.")
            : ImageSize is < 16 or > 4096 ? ValidationResult.Error("--image-size must be 16..4096.")
            : ValidationResult.Success();
    }

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var backbone = ImageBackbone.Resolve(settings.Backbone, settings.Preprocessing);
        string dir = Path.Combine(Path.GetTempPath(), "reversesd-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var paths = Enumerable.Range(0, settings.Images + 2).Select(i => WriteImage(Path.Combine(dir, $"{i}.png"), i, settings.ImageSize)).ToList();
            var ml = new MLContext(seed: 1);
            var warmup = ml.Data.LoadFromEnumerable(paths.Take(2).Select(p => new PathRow { ImagePath = p }).ToList());
            var timed = ml.Data.LoadFromEnumerable(paths.Skip(2).Select(p => new PathRow { ImagePath = p }).ToList());

            var fitClock = Stopwatch.StartNew();
            using var transformer = ml.Transforms.ApplyImageBackbone(backbone).Fit(warmup);
            double fitSeconds = fitClock.Elapsed.TotalSeconds;
            Consume(transformer.Transform(warmup), cancellationToken);
            var process = Process.GetCurrentProcess();
            var cpuBefore = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            int rows = Consume(transformer.Transform(timed), cancellationToken);
            double seconds = clock.Elapsed.TotalSeconds;
            process.Refresh();
            double cpuSeconds = (process.TotalProcessorTime - cpuBefore).TotalSeconds;

            var table = new Table().AddColumns("measure", "value");
            table.AddRow("backbone", Markup.Escape(backbone.ToString()));
            table.AddRow("feature size", backbone.FeatureSize.ToString(CultureInfo.InvariantCulture));
            table.AddRow("images", $"{rows} PNG, {settings.ImageSize}x{settings.ImageSize}");
            table.AddRow("fit (compose + load ONNX)", $"{fitSeconds:F2} s");
            table.AddRow("ms/image", (seconds * 1000 / rows).ToString("F1", CultureInfo.InvariantCulture));
            table.AddRow("images/s", (rows / seconds).ToString("F1", CultureInfo.InvariantCulture));
            table.AddRow("CPU ms/image (all threads)", (cpuSeconds * 1000 / rows).ToString("F1", CultureInfo.InvariantCulture));
            table.AddRow("load average (1 min)", LoadAverage());
            table.AddRow("peak working set", $"{Process.GetCurrentProcess().PeakWorkingSet64 / (1024 * 1024)} MiB");
            table.AddRow("processors", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture));
            console.Write(table);
            return 0;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>The 1-minute load average on Linux (other processes slow the wall-clock figure), else "n/a".</summary>
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

    private static int Consume(IDataView data, CancellationToken cancellationToken)
    {
        var column = data.Schema[ImageBackboneOptions.Defaults.OutputColumnName];
        using var cursor = data.GetRowCursor([column]);
        var getter = cursor.GetGetter<VBuffer<float>>(column);
        VBuffer<float> value = default;
        int n = 0;
        while (cursor.MoveNext())
        {
            cancellationToken.ThrowIfCancellationRequested();
            getter(ref value);
            n++;
        }
        return n;
    }

    private static string WriteImage(string path, int seed, int size)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(size, size);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
            using var paint = new SKPaint { IsAntialias = true };
            for (int i = 0; i < 12; i++)
            {
                paint.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                canvas.DrawCircle(random.Next(size), random.Next(size), 8 + random.Next(size / 4), paint);
            }
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }
}
