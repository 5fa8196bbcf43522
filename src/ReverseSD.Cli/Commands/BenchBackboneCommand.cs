using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Backbones;
using SkiaSharp;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>
/// `reversesd bench backbone`: in one run, raw ONNX Runtime inference, the fast featurisation path and the ML.NET chain
/// on the same images (generated PNGs or a folder), with their ratios.
/// </summary>
internal sealed class BenchBackboneCommand(IAnsiConsole console) : Command<BenchBackboneCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--backbone <NAME>")]
        [Description("resnet18, resnet18-SIZE (e.g. resnet18-288), resnet18-grid or the path of an .onnx image encoder (default resnet18).")]
        public string Backbone { get; init; } = "resnet18";

        [CommandOption("--preprocessing <SPEC>")]
        [Description("Preprocessing of an .onnx encoder: compact spec (size=224,mean=...,std=...,output=...) or a JSON file.")]
        public string? Preprocessing { get; init; }

        [CommandOption("--count <N>")]
        [Description("Number of generated images to time (after 2 warm-up images); with --images, at most this many of its files (default 100).")]
        public int Count { get; init; } = 100;

        [CommandOption("--images <DIR>")]
        [Description("Time the PNG/JPEG files of this folder (name order) instead of generated images.")]
        public string? Images { get; init; }

        [CommandOption("--image-size <PX>")]
        [Description("Side of the generated square PNGs (default 512, as Stable Diffusion images).")]
        public int ImageSize { get; init; } = 512;

        [CommandOption("--batch-size <N>")]
        [Description("Images per ONNX Runtime call in the fast path and the raw measure (default 8).")]
        public int BatchSize { get; init; } = BatchedImageFeaturizer.DefaultBatchSize;

        public override ValidationResult Validate() =>
            Count < 1 ? ValidationResult.Error("--count must be at least 1.")
            : ImageSize is < 16 or > 4096 ? ValidationResult.Error("--image-size must be 16..4096.")
            : BatchSize < 1 ? ValidationResult.Error("--batch-size must be at least 1.")
            : Images != null && !Directory.Exists(Images) ? ValidationResult.Error($"--images '{Images}' is not a folder.")
            : ValidationResult.Success();
    }

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    private sealed record Measure(string Name, int Images, double Seconds, double CpuSeconds)
    {
        public double ImagesPerSecond => Images / Seconds;
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var backbone = ImageBackbone.Resolve(settings.Backbone, settings.Preprocessing);
        string dir = Path.Combine(Path.GetTempPath(), "reversesd-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            List<string> warmup, timed;
            string what;
            if (settings.Images != null)
            {
                var files = PredictCommand.ExpandImages([settings.Images]);
                warmup = files.Take(Math.Min(2, files.Count)).ToList();
                timed = files.Take(settings.Count).ToList();
                what = $"{timed.Count} files of {settings.Images}";
            }
            else
            {
                var paths = Enumerable.Range(0, settings.Count + 2).Select(i => WriteImage(Path.Combine(dir, $"{i}.png"), i, settings.ImageSize)).ToList();
                warmup = paths.Take(2).ToList();
                timed = paths.Skip(2).ToList();
                what = $"{timed.Count} generated PNG, {settings.ImageSize}x{settings.ImageSize}";
            }
            int threads = Environment.ProcessorCount;
            int featureSize = backbone.FeatureSize;

            var raw = MeasureRaw(backbone, timed.Count, settings.BatchSize, threads, cancellationToken);
            var fast = MeasureFast(backbone, warmup, timed, settings.BatchSize, cancellationToken);
            var (chain, fitSeconds) = MeasureMlNet(backbone, warmup, timed, cancellationToken);

            // The ceiling: the graph's arithmetic per image, the machine's float32 rate and decoding alone, in the same run.
            var arithmetic = BackboneCeiling.CountPerImage(backbone.Compose("pixels", "features"), "pixels", backbone.Preprocessing);
            var rate = BackboneCeiling.Measure(arithmetic, settings.BatchSize);
            var decode = BackboneCeiling.DecodeCost(timed, backbone.Preprocessing);

            var table = new Table().AddColumns("path", "images/s", "ms/image", "CPU ms/image");
            foreach (var m in new[] { raw, fast, chain })
                table.AddRow(Markup.Escape(m.Name), F(m.ImagesPerSecond), F(m.Seconds * 1000 / m.Images), F(m.CpuSeconds * 1000 / m.Images));
            console.MarkupLineInterpolated($"backbone {backbone}");
            console.MarkupLineInterpolated($"feature size {featureSize}; images: {what}; {threads} logical cores; ML.NET chain fit (compose + load ONNX) {fitSeconds:F2} s");
            console.Write(table);
            console.MarkupLineInterpolated($"fast path / raw ONNX Runtime: {F2(fast.ImagesPerSecond / raw.ImagesPerSecond)} (goal >= 0.75)");
            console.MarkupLineInterpolated($"fast path / ML.NET chain: {F2(fast.ImagesPerSecond / chain.ImagesPerSecond)}");
            console.MarkupLineInterpolated($"ML.NET chain / raw ONNX Runtime: {F2(chain.ImagesPerSecond / raw.ImagesPerSecond)}");
            double flops = 2.0 * arithmetic.MultiplyAdds;
            // The ceiling is the best rate measured here: the plain products', or raw ONNX Runtime's own when it is higher.
            double best = Math.Max(rate.BestGflops, flops * raw.ImagesPerSecond / 1e9);
            double ceiling = best * 1e9 / flops;
            console.MarkupLineInterpolated($"arithmetic (counted in the ONNX graph, {arithmetic.Nodes.Count} Conv/Gemm/MatMul nodes): {arithmetic.MultiplyAdds / 1e9:F3} G multiply-adds per image = {flops / 1e9:F2} GFLOP");
            console.MarkupLineInterpolated($"achieved: raw ONNX Runtime {flops * raw.ImagesPerSecond / 1e9:F1} GFLOP/s, fast path {flops * fast.ImagesPerSecond / 1e9:F1} GFLOP/s, ML.NET chain {flops * chain.ImagesPerSecond / 1e9:F1} GFLOP/s");
            console.MarkupLineInterpolated($"plain TorchSharp float32 products ({rate.Threads} threads): the graph's {rate.Shapes} product shapes (im2col, batch {settings.BatchSize}) {rate.OwnShapesGflops:F1} GFLOP/s; [[1024 x 1024]] x [[1024 x 1024]] {rate.SquareGflops:F1} GFLOP/s; the same as an ONNX Runtime MatMul {rate.OnnxRuntimeSquareGflops:F1} GFLOP/s");
            console.MarkupLineInterpolated($"ceiling: at the best float32 rate measured in this run ({best:F1} GFLOP/s, {(best > rate.BestGflops ? "raw ONNX Runtime's own, above the plain products" : "a plain product")}) the backbone would run at [bold]{F(ceiling)} images/s[/] ({F2(1000 / ceiling)} ms/image); raw ONNX Runtime / ceiling: {F2(raw.ImagesPerSecond / ceiling)}");
            console.MarkupLineInterpolated($"the cores' float32 peak (multiply-adds on registers alone, {threads} threads): {rate.RegisterPeakGflops:F1} GFLOP/s = {F(rate.RegisterPeakGflops * 1e9 / flops)} images/s at most; raw ONNX Runtime / peak: {F2(flops * raw.ImagesPerSecond / 1e9 / rate.RegisterPeakGflops)}");
            console.MarkupLineInterpolated($"decode + resize alone (one thread, the same {decode.Decoded} images): {F2(decode.CpuMs)} CPU ms/image ({F2(decode.WallMs)} ms wall)");
            double bound = 1 / (1 / ceiling + decode.CpuMs / 1000 / threads);
            console.MarkupLineInterpolated($"featurising (decode on {threads} cores + inference at the ceiling) could reach at most {F(bound)} images/s; fast path / that: {F2(fast.ImagesPerSecond / bound)}");
            console.MarkupLineInterpolated($"load average (1 min) {LoadAverage()}; peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / (1024 * 1024)} MiB");
            return 0;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>ONNX Runtime alone: the fast path's session and batch size on pre-filled inputs (no decoding), one warm-up call.</summary>
    private static Measure MeasureRaw(ImageBackbone backbone, int images, int batchSize, int threads, CancellationToken cancellationToken)
    {
        using var raw = new BackboneCeiling.RawInference(backbone.Compose("pixels", "features"), "pixels", "features", backbone.Preprocessing,
            backbone.FeatureSize, batchSize, threads);
        raw.Run(Math.Min(batchSize, images));
        return Timed($"raw ONNX Runtime (batch {batchSize}, {threads} threads, no decoding)", () =>
        {
            for (int done = 0; done < images; done += batchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                raw.Run(Math.Min(batchSize, images - done));
            }
            return images;
        });
    }

    private static Measure MeasureFast(ImageBackbone backbone, List<string> warmup, List<string> timed, int batchSize, CancellationToken cancellationToken)
    {
        using var featurizer = BatchedImageFeaturizer.Create(backbone, batchSize);
        _ = featurizer.Featurize(warmup, cancellationToken).Count();
        return Timed($"fast path (decode on {Environment.ProcessorCount} threads, batch {batchSize})",
            () => featurizer.Featurize(timed, cancellationToken).Count(f => f.Features != null));
    }

    private static (Measure, double FitSeconds) MeasureMlNet(ImageBackbone backbone, List<string> warmup, List<string> timed, CancellationToken cancellationToken)
    {
        var ml = new MLContext(seed: 1);
        var fitClock = Stopwatch.StartNew();
        var warmupData = ml.Data.LoadFromEnumerable(warmup.Select(p => new PathRow { ImagePath = p }).ToList());
        using var transformer = ml.Transforms.ApplyImageBackbone(backbone).Fit(warmupData);
        double fitSeconds = fitClock.Elapsed.TotalSeconds;
        Consume(transformer.Transform(warmupData), cancellationToken);
        var readable = timed.Where(p => ImageValidation.FindProblem(p) == null).Select(p => new PathRow { ImagePath = p }).ToList();
        var data = ml.Data.LoadFromEnumerable(readable);
        return (Timed("ML.NET chain (LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel)", () => Consume(transformer.Transform(data), cancellationToken)), fitSeconds);
    }

    private static Measure Timed(string name, Func<int> run)
    {
        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        int images = run();
        double seconds = clock.Elapsed.TotalSeconds;
        process.Refresh();
        return new Measure(name, Math.Max(images, 1), seconds, (process.TotalProcessorTime - cpuBefore).TotalSeconds);
    }

    private static string F(double v) => v.ToString("F1", CultureInfo.InvariantCulture);

    private static string F2(double v) => v.ToString("F2", CultureInfo.InvariantCulture);

    /// <summary>The 1-minute load average on Linux (other processes slow the wall-clock figure), else "n/a".</summary>
    internal static string LoadAverage()
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

    /// <summary>A seeded 512 px-style test image: a background and a dozen coloured discs.</summary>
    internal static string WriteImage(string path, int seed, int size)
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
