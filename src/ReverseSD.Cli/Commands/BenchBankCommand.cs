using System.ComponentModel;
using System.Diagnostics;
using ReverseSD.MLNet.Retrieval;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd bench bank`: exact top-k search speed on a generated bank, against a plain loop measured in the same run.</summary>
internal sealed class BenchBankCommand(IAnsiConsole console) : Command<BenchBankCommand.Settings>
{
    /// <summary>Options of `bench bank`.</summary>
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--prompts <N>")]
        [Description("Prompts in the generated bank (random unit vectors + generated text, written directly in the bank format) (default 1,000,000).")]
        public int Prompts { get; init; } = 1_000_000;

        [CommandOption("--queries <N>")]
        [Description("Queries searched in one batch (default 1000).")]
        public int Queries { get; init; } = 1000;

        [CommandOption("--top <N>")]
        [Description("Prompts returned per query (default 10).")]
        public int K { get; init; } = 10;

        [CommandOption("--reference-queries <N>")]
        [Description("Queries timed with the plain-loop reference (one dot product per bank row) (default 5).")]
        public int ReferenceQueries { get; init; } = 5;

        [CommandOption("--dir <PATH>")]
        [Description("Folder for the generated bank file (deleted afterwards). Default: the temporary folder.")]
        public string? Dir { get; init; }

        public override ValidationResult Validate() =>
            Prompts < 1 ? ValidationResult.Error("--prompts must be at least 1.")
            : Queries < 1 ? ValidationResult.Error("--queries must be at least 1.")
            : K < 1 ? ValidationResult.Error("--top must be at least 1.")
            : ReferenceQueries < 0 ? ValidationResult.Error("--reference-queries must be >= 0.")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        string dir = settings.Dir ?? Path.GetTempPath();
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"bench-bank-{Environment.ProcessId}.rsdbank");
        const int d = 384;
        try
        {
            var write = Stopwatch.StartNew();
            PromptBankBenchmark.WriteRandomBank(path, settings.Prompts, d, seed: 7);
            write.Stop();
            var queries = PromptBankBenchmark.RandomUnitVectors(settings.Queries, d, seed: 8);
            using var bank = PromptBank.Open(path);
            console.MarkupLineInterpolated($"bank: {bank.Count} prompts × {d} float32 ({bank.FileSize / 1048576.0:F0} MiB, written in {write.Elapsed.TotalSeconds:F1} s), {Environment.ProcessorCount} logical cores");
            if (File.Exists("/proc/loadavg"))
                console.MarkupLineInterpolated($"system load average (other processes share the CPU): {File.ReadAllText("/proc/loadavg").Trim()}");

            bank.SearchIndices(queries.Take(1).ToList(), settings.K); // warm-up: pages the bank in
            var batch = Stopwatch.StartNew();
            var hits = bank.SearchIndices(queries, settings.K);
            batch.Stop();
            double batchMs = batch.Elapsed.TotalMilliseconds / settings.Queries;
            console.MarkupLineInterpolated($"batched search ({settings.Queries} queries, k = {settings.K}): {batch.Elapsed.TotalSeconds:F2} s, [bold]{batchMs:F2} ms per query[/] (budget: 50 ms)");

            int singles = Math.Min(5, settings.Queries);
            var single = Stopwatch.StartNew();
            for (int i = 0; i < singles; i++) bank.SearchIndices([queries[i]], settings.K);
            single.Stop();
            console.MarkupLineInterpolated($"one query at a time ({singles} queries): {single.Elapsed.TotalMilliseconds / singles:F1} ms per query");

            if (settings.ReferenceQueries > 0)
            {
                int r = Math.Min(settings.ReferenceQueries, settings.Queries);
                var reference = Stopwatch.StartNew();
                var plain = PromptBankBenchmark.PlainLoopSearch(bank, queries.Take(r).ToList(), settings.K);
                reference.Stop();
                double refMs = reference.Elapsed.TotalMilliseconds / r;
                bool same = Enumerable.Range(0, r).All(i => plain[i].Select(h => h.Index).SequenceEqual(hits[i].Select(h => h.Index)));
                console.MarkupLineInterpolated($"reference: plain loop (one dot product per row, {r} queries): {refMs:F1} ms per query; batched search is {refMs / batchMs:F1}× faster; same top-{settings.K}: {(same ? "yes" : "NO")}");
            }
        }
        finally
        {
            File.Delete(path);
        }
        return 0;
    }
}
