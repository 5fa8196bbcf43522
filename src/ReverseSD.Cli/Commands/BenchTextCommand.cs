using System.ComponentModel;
using System.Diagnostics;
using ReverseSD.MLNet.Text;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd bench text`: sentence-encoder throughput (prompts per second) on this machine.</summary>
internal sealed class BenchTextCommand(IAnsiConsole console) : Command<BenchTextCommand.Settings>
{
    /// <summary>Options of `bench text`.</summary>
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--count <N>")]
        [Description("Number of prompts to encode (default 2000; generated deterministically unless --input is given).")]
        public int Count { get; init; } = 2000;

        [CommandOption("--batch-size <N>")]
        [Description("Prompts per ONNX Runtime call (default 32).")]
        public int BatchSize { get; init; } = SentenceEncoder.DefaultBatchSize;

        [CommandOption("--input <PATH>")]
        [Description("Encode the prompts of this .txt/.csv file instead (the first --count of them, repeated if fewer).")]
        public string? Input { get; init; }

        [CommandOption("--int8")]
        [Description("Measure the encoder with int8 weights (embed-text --int8), and the cosine of its vectors to the float model's.")]
        public bool Int8 { get; init; }

        public override ValidationResult Validate() =>
            Count < 1 ? ValidationResult.Error($"--count must be at least 1 (got {Count}).")
            : BatchSize < 1 ? ValidationResult.Error($"--batch-size must be at least 1 (got {BatchSize}).")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var source = settings.Input != null ? PromptListFile.Read(settings.Input) : GeneratePrompts(settings.Count, seed: 12345);
        var prompts = Enumerable.Range(0, settings.Count).Select(i => source[i % source.Count]).ToList();

        var load = Stopwatch.StartNew();
        using var encoder = SentenceEncoder.Load(null, settings.BatchSize, settings.Int8);
        load.Stop();
        encoder.Encode(prompts.Take(Math.Min(prompts.Count, 2 * settings.BatchSize)).ToList(), null, cancellationToken); // warm-up

        double pieces = prompts.Average(p => encoder.TokenIds(p).Length);
        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var timer = Stopwatch.StartNew();
        var vectors = encoder.Encode(prompts, null, cancellationToken);
        timer.Stop();
        process.Refresh();
        double cpuSeconds = (process.TotalProcessorTime - cpuBefore).TotalSeconds;

        // The reference: ONNX Runtime alone on the same batches, tokenised and padded beforehand (no pooling either).
        var tokenized = prompts.Select(encoder.TokenIds).ToArray();
        var batches = encoder.PlanBatches(tokenized).Select(b => (Count: b.Length, Inputs: encoder.Tensors(b.Select(i => tokenized[i]).ToArray()))).ToList();
        var rawTimer = Stopwatch.StartNew();
        foreach (var (count, inputs) in batches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            encoder.Run(inputs.Ids, inputs.Mask, inputs.Types, count, inputs.Width, _ => { });
        }
        rawTimer.Stop();
        double rate = prompts.Count / timer.Elapsed.TotalSeconds, rawRate = prompts.Count / rawTimer.Elapsed.TotalSeconds;

        // The ceiling, measured: the encoder's arithmetic (from its ONNX graph, on the padded batches) per second, beside a
        // plain TorchSharp product of the encoder's largest weight shape on a batch's worth of word pieces.
        var arithmetic = EncoderArithmetic.Count(SentenceEncoder.ReadModel(), "last_hidden_state", SentenceEncoder.Dimension);
        double flops = batches.Sum(b => arithmetic.Flops(b.Count, b.Inputs.Width));
        long paddedPieces = batches.Sum(b => (long)b.Count * b.Inputs.Width);
        var (referenceGflops, torchThreads) = MLNet.PlainMatrixProduct.Measure(SentenceEncoder.MaxBatchWordPieces, SentenceEncoder.Dimension, 4 * SentenceEncoder.Dimension);
        double peakGflops = MLNet.PlainMatrixProduct.MeasureRegisterPeak(Environment.ProcessorCount);

        console.MarkupLineInterpolated($"sentence encoder (all-MiniLM-L6-v2{(settings.Int8 ? ", int8 weights" : "")}, ONNX Runtime CPU, {Environment.ProcessorCount} logical cores, {Environment.ProcessorCount} intra-op threads)");
        console.MarkupLineInterpolated($"model load: {load.Elapsed.TotalSeconds:F2} s");
        if (File.Exists("/proc/loadavg"))
            console.MarkupLineInterpolated($"system load average (other processes share the CPU): {File.ReadAllText("/proc/loadavg").Trim()}");
        console.MarkupLineInterpolated($"prompts: {prompts.Count} ({(settings.Input != null ? settings.Input : "generated")}), mean {pieces:F1} word pieces");
        console.MarkupLineInterpolated($"batches: {batches.Count}, length-sorted, at most {settings.BatchSize} prompts and {SentenceEncoder.MaxBatchWordPieces} padded word pieces each");
        console.MarkupLineInterpolated($"time: {timer.Elapsed.TotalSeconds:F2} s, [bold]{rate:F0} prompts/s[/] (goal >= 400)");
        // Process CPU time is less sensitive to other processes sharing the cores than wall time.
        console.MarkupLineInterpolated($"process CPU time: {cpuSeconds:F2} s ({prompts.Count / Math.Max(cpuSeconds, 1e-9):F0} prompts per CPU-second)");
        console.MarkupLineInterpolated($"raw ONNX Runtime on the same pre-tokenised batches: {rawTimer.Elapsed.TotalSeconds:F2} s, {rawRate:F0} prompts/s");
        console.MarkupLineInterpolated($"encoder / raw ONNX Runtime: {rate / rawRate:F2} (goal >= 0.9)");
        console.MarkupLineInterpolated($"arithmetic (counted in the ONNX graph): {arithmetic.WeightMultiplyAddsPerWordPiece / 1e6:F2} M multiply-adds per padded word piece in weight products + {arithmetic.AttentionProducts} attention products; {paddedPieces} padded word pieces, {flops / 1e9:F1} GFLOP in all");
        console.MarkupLineInterpolated($"achieved: encoder {flops / timer.Elapsed.TotalSeconds / 1e9:F1} GFLOP/s, raw ONNX Runtime {flops / rawTimer.Elapsed.TotalSeconds / 1e9:F1} GFLOP/s{(settings.Int8 ? " (int8 weight products counted as float ones: not bound by the float32 peak below)" : "")}");
        console.MarkupLineInterpolated($"plain TorchSharp float32 product [[{SentenceEncoder.MaxBatchWordPieces} x {SentenceEncoder.Dimension}]] x [[{SentenceEncoder.Dimension} x {4 * SentenceEncoder.Dimension}]] ({torchThreads} threads): {referenceGflops:F1} GFLOP/s");
        console.MarkupLineInterpolated($"encoder / plain product: {flops / timer.Elapsed.TotalSeconds / 1e9 / referenceGflops:F2}; prompts/s at the plain product's rate: {prompts.Count / (flops / (referenceGflops * 1e9)):F0}");
        if (settings.Int8)
        {
            // Fidelity: each int8 vector against the float model's vector of the same prompt (both unit norm).
            using var floatEncoder = SentenceEncoder.Load(null, settings.BatchSize);
            var reference = floatEncoder.Encode(prompts, null, cancellationToken);
            var cosines = vectors.Zip(reference, (a, b) => (double)System.Numerics.Tensors.TensorPrimitives.Dot(a, b)).ToList();
            console.MarkupLineInterpolated($"int8 vs float vectors of the same {prompts.Count} prompts: cosine mean {cosines.Average():F5}, lowest {cosines.Min():F5}");
        }
        double goalGflops = flops / (prompts.Count / 400.0) / 1e9;
        console.MarkupLineInterpolated($"the cores' float32 peak (multiply-adds on registers alone, {Environment.ProcessorCount} threads): {peakGflops:F1} GFLOP/s → at most {prompts.Count / (flops / (peakGflops * 1e9)):F0} prompts/s on these batches; 400 prompts/s needs {goalGflops:F1} GFLOP/s ({goalGflops / peakGflops:F2} × the peak)");
        return 0;
    }

    /// <summary>Varied prompts in the style of real Stable Diffusion prompts (subject, setting, style, flavour words), seeded.</summary>
    internal static List<string> GeneratePrompts(int count, int seed)
    {
        string[] adjectives = ["ancient", "glowing", "tiny", "giant", "rusty", "ethereal", "cute", "menacing", "golden", "crystal", "overgrown", "futuristic"];
        string[] subjects = ["robot", "castle", "fox", "astronaut", "dragon", "lighthouse", "samurai", "cat", "city", "forest spirit", "pirate ship", "owl", "wizard", "old woman", "mech"];
        string[] settings = ["in a misty forest", "on the moon", "at sunset", "under the sea", "in a cyberpunk alley at night", "on a snowy mountain", "in a cozy library", "floating in space", "in a field of flowers", "in the ruins of a temple"];
        string[] styles = ["oil painting", "digital art", "watercolor", "concept art", "3d render", "photograph", "anime style", "pencil sketch", "matte painting", "pixel art"];
        string[] artists = ["greg rutkowski", "alphonse mucha", "artgerm", "studio ghibli", "wlop", "james gurney", "moebius", "beeple", "zdzisław beksiński", "craig mullins"];
        string[] flavour = ["highly detailed", "trending on artstation", "4k", "8k uhd", "sharp focus", "octane render", "unreal engine 5", "volumetric lighting", "cinematic", "intricate", "smooth", "dramatic lighting", "hyperrealistic", "award winning", "bokeh", "35mm f/1.8"];
        var random = new Random(seed);
        var prompts = new List<string>(count);
        for (int i = 0; i < count; i++)
        {
            var parts = new List<string> { $"{Pick(adjectives)} {Pick(subjects)} {Pick(settings)}" };
            if (random.NextDouble() < 0.7) parts.Add(Pick(styles));
            if (random.NextDouble() < 0.5) parts.Add("by " + Pick(artists) + (random.NextDouble() < 0.4 ? " and " + Pick(artists) : ""));
            int extras = random.Next(0, 9);
            for (int j = 0; j < extras; j++) parts.Add(Pick(flavour));
            prompts.Add(string.Join(", ", parts));
        }
        return prompts;

        string Pick(string[] words) => words[random.Next(words.Length)];
    }
}
