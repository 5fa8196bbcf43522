using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>
/// `reversesd bench predict`: end-to-end `reversesd predict` against the PyTorch CPU peer (torchvision ResNet18, PIL
/// decode) on the same files in the same run, each a fresh process with its start and model load included; the two run
/// in turn several times and their medians are compared, because one run of either can be a second or more off.
/// </summary>
internal sealed class BenchPredictCommand(IAnsiConsole console) : Command<BenchPredictCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--model <PATH>")]
        [Description("Model zip to predict with (e.g. the demo's model.zip).")]
        public string Model { get; init; } = "";

        [CommandOption("--images <DIR>")]
        [Description("Folder of PNG/JPEG files; default: --count generated 512 px PNGs.")]
        public string? Images { get; init; }

        [CommandOption("--count <N>")]
        [Description("Generated 512 px PNGs when --images is not given (default 400).")]
        public int Count { get; init; } = 400;

        [CommandOption("--peer <SCRIPT>")]
        [Description("The PyTorch peer script (prints images/s for a folder) (default ../shared/bench/pytorch_peer_e2e.py).")]
        public string Peer { get; init; } = Path.Combine("..", "shared", "bench", "pytorch_peer_e2e.py");

        [CommandOption("--compose <MODE>")]
        [Description("How predict writes the prompt: none (like for like: the peer writes no prompt; the embedding, nearest prompts and words are still computed), greedy or beam (predict's default) (default none).")]
        public string Compose { get; init; } = "none";

        [CommandOption("--python <PATH>")]
        [Description("Python interpreter with torch, torchvision and PIL (Debian: python3-torch python3-torchvision python3-pil) (default /usr/bin/python3).")]
        public string Python { get; init; } = "/usr/bin/python3";

        [CommandOption("--repeat <N>")]
        [Description("Runs of each, in turn (peer, predict, peer, predict, ...); their medians are compared (default 3).")]
        public int Repeat { get; init; } = 3;

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Model) || !File.Exists(Model) ? ValidationResult.Error($"--model '{Model}' does not exist: give a model zip from 'reversesd train' or 'reversesd demo'.")
            : Images != null && !Directory.Exists(Images) ? ValidationResult.Error($"--images '{Images}' is not a folder.")
            : Count < 1 ? ValidationResult.Error("--count must be at least 1.")
            : Repeat < 1 ? ValidationResult.Error("--repeat must be at least 1.")
            : Compose is not ("none" or "greedy" or "beam") ? ValidationResult.Error($"--compose '{Compose}' is not one of none, greedy, beam.")
            : !File.Exists(Peer) ? ValidationResult.Error($"--peer '{Peer}' does not exist: give the PyTorch peer script (see ../shared/bench/README.md).")
            : ValidationResult.Success();
    }

    private sealed record Run(double Seconds, long PeakRssKiB, string Error);

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        string temp = Path.Combine(Path.GetTempPath(), "reversesd-bench-predict-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(temp);
        try
        {
            string folder = settings.Images ?? Path.Combine(temp, "images");
            if (settings.Images == null)
            {
                Directory.CreateDirectory(folder);
                for (int i = 0; i < settings.Count; i++) BenchBackboneCommand.WriteImage(Path.Combine(folder, $"{i:D6}.png"), i, 512);
            }
            int images = PredictCommand.ExpandImages([folder]).Count;

            // The peer counts *.png and *.jpg; predict also takes *.jpeg: the same files only when there is no .jpeg.
            var (tool, toolArgs) = Self();
            string output = Path.Combine(temp, "predictions.jsonl");
            string[] predictArgs = [.. toolArgs, "predict", "--model", Path.GetFullPath(settings.Model), folder, "--out", output, "--compose", settings.Compose, "--verbose"];
            var peerRuns = new List<Run>();
            var ourRuns = new List<Run>();
            var table = new Table().AddColumns("run", "reversesd predict: seconds (images/s)", "peak RSS", "PyTorch peer: seconds (images/s)", "peak RSS", "peer / predict");
            console.MarkupLineInterpolated($"{images} images in {folder}; {Environment.ProcessorCount} logical cores; load average {BenchBackboneCommand.LoadAverage()}; each run a fresh process, process start and model load included");
            for (int r = 0; r < settings.Repeat; r++)
            {
                // In turn, so a slow spell of the machine (or a cold file cache on the first run) falls on both.
                var peer = Start(settings.Python, [Path.GetFullPath(settings.Peer), folder], cancellationToken);
                var ours = Start(tool, predictArgs, cancellationToken);
                peerRuns.Add(peer);
                ourRuns.Add(ours);
                table.AddRow($"{r + 1}", $"{F2(ours.Seconds)} ({F(images / ours.Seconds)})", $"{ours.PeakRssKiB / 1024} MiB",
                    $"{F2(peer.Seconds)} ({F(images / peer.Seconds)})", $"{peer.PeakRssKiB / 1024} MiB", F2(peer.Seconds / ours.Seconds));
            }
            var median = Median(ourRuns);
            var peerMedian = Median(peerRuns);
            table.AddRow("median", $"{F2(median.Seconds)} ({F(images / median.Seconds)})", $"{median.PeakRssKiB / 1024} MiB",
                $"{F2(peerMedian.Seconds)} ({F(images / peerMedian.Seconds)})", $"{peerMedian.PeakRssKiB / 1024} MiB", F2(peerMedian.Seconds / median.Seconds));
            console.Write(table);
            console.MarkupLineInterpolated($"reversesd predict --compose {settings.Compose} / PyTorch peer (ResNet18, PIL, batch 1, 2 threads), medians of {settings.Repeat}: [bold]{F2(peerMedian.Seconds / median.Seconds)}[/] (goal >= 1.4)");
            console.MarkupLine("where reversesd predict's time went (its --verbose, the median run):");
            foreach (string line in median.Error.Split('\n').Where(l => l.StartsWith("time:", StringComparison.Ordinal)))
                console.MarkupLineInterpolated($"  {line["time:".Length..].Trim()}");
            PrintCeiling(settings.Model, PredictCommand.ExpandImages([folder]), median, peerMedian.Seconds);
            return 0;
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// The best end-to-end time reachable on this machine in float32, measured after the two runs: predict's own time
    /// outside featurising (from its --verbose breakdown) + images × (the backbones' arithmetic at the best plain product
    /// rate + their decoding CPU time spread over the cores), against the peer's seconds.
    /// </summary>
    private void PrintCeiling(string model, IReadOnlyList<string> files, Run ours, double peerSeconds)
    {
        const string featurisePhase = "featurise (waiting for the backbone)";
        double? featurise = ours.Error.Split('\n').Where(l => l.StartsWith("time:", StringComparison.Ordinal) && l.Contains(featurisePhase, StringComparison.Ordinal))
            .Select(l => (double?)double.Parse(l["time:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture)).FirstOrDefault();
        var backbones = MLNet.Pipeline.ModelImageScorer.ReadBackbones(Path.GetFullPath(model));
        if (featurise == null || backbones.Count == 0)
        {
            console.MarkupLine("ceiling: not computed (the model's backbone graphs cannot be read back, so predict scored it through its ML.NET chain)");
            return;
        }
        // Decoding is timed on at most 100 of the files (one thread), each backbone with its own preprocessing.
        var sample = files.Take(100).ToList();
        long multiplyAdds = 0;
        double decodeCpuMs = 0, rawSeconds = 0;
        int cores = Environment.ProcessorCount, batch = MLNet.Backbones.BatchedImageFeaturizer.DefaultBatchSize;
        BackboneCeiling.MachineRate? rate = null;
        foreach (var backbone in backbones)
        {
            var arithmetic = BackboneCeiling.CountPerImage(backbone.Model, backbone.InputName, backbone.Preprocessing);
            multiplyAdds += arithmetic.MultiplyAdds;
            rate ??= BackboneCeiling.Measure(arithmetic, batch);
            decodeCpuMs += BackboneCeiling.DecodeCost(sample, backbone.Preprocessing).CpuMs;
            using var raw = new BackboneCeiling.RawInference(backbone.Model, backbone.InputName, backbone.OutputName, backbone.Preprocessing, backbone.FeatureSize, batch, cores);
            rawSeconds += raw.SecondsPerImage(batch, batches: 5);
        }
        int images = files.Count;
        double rest = ours.Seconds - featurise.Value;
        // The best rate measured here: the plain products', or raw ONNX Runtime's own on the backbones when it is higher.
        double rawGflops = 2.0 * multiplyAdds / rawSeconds / 1e9;
        double bestGflops = Math.Max(rate!.BestGflops, rawGflops);
        double inferenceMs = 2.0 * multiplyAdds / (bestGflops * 1e9) * 1000;
        double best = rest + images * (inferenceMs + decodeCpuMs / cores) / 1000;
        console.MarkupLineInterpolated($"ceiling: {backbones.Count} backbone graph(s), {multiplyAdds / 1e9:F3} G multiply-adds per image (counted in the graphs); best float32 rate measured now {bestGflops:F1} GFLOP/s (plain products: TorchSharp on the graph's shapes {rate.OwnShapesGflops:F1}, on a 1024 square {rate.SquareGflops:F1}, ONNX Runtime MatMul 1024 square {rate.OnnxRuntimeSquareGflops:F1}; raw ONNX Runtime on the backbone, batch {batch}: {rawGflops:F1}) → {inferenceMs:F2} ms/image");
        double peakBest = rest + images * (2.0 * multiplyAdds / (rate.RegisterPeakGflops * 1e9) + decodeCpuMs / cores / 1000);
        console.MarkupLineInterpolated($"  the cores' float32 peak (multiply-adds on registers alone, {cores} threads): {rate.RegisterPeakGflops:F1} GFLOP/s → predict >= {peakBest:F2} s, ratio to the peer <= {peerSeconds / peakBest:F2} even there");
        console.MarkupLineInterpolated($"  decode + resize: {decodeCpuMs:F2} CPU ms/image (one thread, {sample.Count} of the files) → {decodeCpuMs / cores:F2} ms/image on {cores} cores");
        console.MarkupLineInterpolated($"  predict outside featurising (start-up, load, heads, writing; measured above): {rest:F2} s");
        console.MarkupLineInterpolated($"at the machine's float32 rate predict would take >= {best:F2} s on these {images} images: ratio to the PyTorch peer ({peerSeconds:F2} s) <= [bold]{peerSeconds / best:F2}[/] (goal >= 1.4)");
    }

    /// <summary>How to start this tool again: its apphost, or dotnet with its dll.</summary>
    private static (string File, string[] Args) Self()
    {
        string dll = typeof(CliApp).Assembly.Location;
        string apphost = Path.Combine(Path.GetDirectoryName(dll)!, "reversesd");
        return File.Exists(apphost) ? (apphost, []) : ("dotnet", [dll]);
    }

    /// <summary>Runs a process to its end; wall time, peak resident memory (VmHWM, sampled every 50 ms) and stderr.</summary>
    private static Run Start(string file, string[] args, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start '{file}'.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        long peak = 0;
        while (!process.WaitForExit(50))
        {
            if (cancellationToken.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                cancellationToken.ThrowIfCancellationRequested();
            }
            peak = Math.Max(peak, PeakRss(process.Id));
        }
        double seconds = clock.Elapsed.TotalSeconds;
        if (process.ExitCode != 0)
            throw new MLNet.ReverseSdInputException($"'{file} {string.Join(' ', args)}' failed (exit {process.ExitCode}): {stderr.Result.Trim()}");
        _ = stdout.Result; // drained so the child never blocks on a full pipe
        return new Run(seconds, peak, stderr.Result);
    }

    private static long PeakRss(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return 0;
    }

    /// <summary>The run of median time (the lower middle one of an even count).</summary>
    private static Run Median(List<Run> runs) => runs.OrderBy(r => r.Seconds).ElementAt((runs.Count - 1) / 2);

    private static string F(double v) => v.ToString("F1", CultureInfo.InvariantCulture);

    private static string F2(double v) => v.ToString("F2", CultureInfo.InvariantCulture);
}
