using System.ComponentModel;
using System.Diagnostics;
using ReverseSD.MLNet.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd bench filters`: times the four prompt filters and the split on generated DiffusionDB-like prompts.</summary>
internal sealed class BenchFiltersCommand(IAnsiConsole console) : Command<BenchFiltersCommand.Settings>
{
    /// <summary>Options of `bench filters`.</summary>
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--count <N>")]
        [Description("Number of generated prompts (default 2000000, the size of DiffusionDB 2M).")]
        public int Count { get; init; } = 2_000_000;

        [CommandOption("--seed <S>")]
        [Description("Seed of the generated prompts (default 1, as in every command).")]
        public int Seed { get; init; } = 1;

        public override ValidationResult Validate() =>
            Count < 1 ? ValidationResult.Error("--count must be at least 1.") : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var prompts = FilterBenchmarkPrompts.Generate(settings.Count, settings.Seed);
        double generate = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var result = PromptFilters.Apply(prompts, cancellationToken);
        double filter = clock.Elapsed.TotalSeconds;
        double filterCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        clock.Restart();
        var splits = PromptSplit.Assign(result.Kept, SplitFractions.Default, 0);
        double split = clock.Elapsed.TotalSeconds;
        var s = result.Summary;
        var table = new Table().AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("prompts", $"{s.Input:N0}");
        table.AddRow("(i) trimmed", $"{s.Trimmed:N0}");
        table.AddRow("(ii) removed", $"{s.RemovedNoWordOrNull:N0}");
        table.AddRow("(iii) removed", $"{s.RemovedNonEnglish:N0}");
        table.AddRow("(iv) removed", $"{s.RemovedNearDuplicate:N0}");
        table.AddRow("kept", $"{s.Kept:N0}");
        table.AddRow("generate prompts (s)", $"{generate:F2}");
        table.AddRow("[bold]four filters (s)[/]", $"{filter:F2}");
        table.AddRow("four filters, process CPU time (s)", $"{filterCpu:F2}");
        table.AddRow("split of kept prompts (s)", $"{split:F2}");
        table.AddRow("filter throughput (prompts/s)", $"{s.Input / Math.Max(filter, 1e-9):N0}");
        table.AddRow("machine load average (1 min)", LoadAverage());
        console.Write(table);
        GC.KeepAlive(splits);
        return 0;
    }

    /// <summary>The 1-minute load average on Linux (other processes slow a timing down), or "n/a".</summary>
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
