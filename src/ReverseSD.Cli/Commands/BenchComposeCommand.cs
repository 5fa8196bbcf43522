using System.ComponentModel;
using System.Globalization;
using ReverseSD.MLNet.Composer;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd bench compose`: text inversion on real prompts (held-out prompts' true and blurred embeddings → prompts).</summary>
internal sealed class BenchComposeCommand(IAnsiConsole console) : Command<BenchComposeCommand.Settings>
{
    /// <summary>Options of `bench compose`.</summary>
    internal sealed class Settings : ComposerSettings
    {
        [CommandOption("--input <PATH>")]
        [Description("Prompt sources (repeat the option), as for 'bank build'; e.g. ../shared/data/diffusiondb-format.")]
        public string[] Input { get; init; } = [];

        [CommandOption("--holdout <N>")]
        [Description("Distinct prompts held out of the bank (split by prompt) and inverted (default 300).")]
        public int Holdout { get; init; } = 300;

        [CommandOption("--noise-cosine <C>")]
        [Description("The blurred setting: targets at this cosine to the true embedding (what a real image model predicts) (default 0.7).")]
        public double NoiseCosine { get; init; } = 0.7;

        [CommandOption("--filters <MODE>")]
        [Description("paper (default): the paper's four filters, near duplicates included, before the split; none: distinct prompts only.")]
        public string Filters { get; init; } = "paper";

        [CommandOption("--seed <N>")]
        [Description("Seed of the hold-out split and the blur (default 1).")]
        public int Seed { get; init; } = 1;

        [CommandOption("--samples <FILE>")]
        [Description("Also write every held-out prompt's results (cosine, time, answer per setting and method) to this CSV as they are made (default: none).")]
        public string? Samples { get; init; }

        public override ValidationResult Validate()
        {
            if (Input.Length == 0) return ValidationResult.Error("--input is required: files or folders with prompts.");
            if (Holdout < 2) return ValidationResult.Error("--holdout must be at least 2.");
            if (Filters is not ("paper" or "none")) return ValidationResult.Error($"--filters must be paper or none; got '{Filters}'.");
            if (NoiseCosine is <= 0 or > 1) return ValidationResult.Error("--noise-cosine must be in (0, 1].");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var result = ConsoleProgress.Run(console, "Text inversion", progress =>
            TextInversionExperiment.Run(settings.Input, settings.Holdout, settings.NoiseCosine, settings.Seed, settings.ComposerOptions(),
                Path.GetTempPath(), progress, cancellationToken, settings.Filters == "paper", settings.Samples));
        console.WriteLine($"bank: {result.BankSize} distinct prompts (filters: {settings.Filters}); held out: {result.HeldOut} (split by prompt, seed {settings.Seed})");
        console.WriteLine($"beam options: width {settings.BeamWidth}, steps {settings.Steps}, candidates/step {settings.Candidates}; {Environment.ProcessorCount} logical cores");
        if (File.Exists("/proc/loadavg"))
            console.WriteLine($"system load average (other processes share the CPU): {File.ReadAllText("/proc/loadavg").Trim()}");
        Print("targets = true embeddings", result.Exact);
        Print($"targets = true embeddings blurred to cosine {result.NoiseCosine.ToString("F2", CultureInfo.InvariantCulture)} (measured {result.MeasuredNoiseCosine.ToString("F4", CultureInfo.InvariantCulture)}); scored against the true embeddings", result.Noisy);
        var beam = result.Exact.Concat(result.Noisy).Where(r => r.Method == "beam composer").ToList();
        console.WriteLine("");
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"composer budget (beam, these options): {beam.Average(r => r.MillisecondsPerPrompt):F0} ms wall, {beam.Average(r => r.CpuMillisecondsPerPrompt):F0} ms CPU per prompt on {Environment.ProcessorCount} cores (goal: <= 1000 ms per image on this machine; wall time includes waiting for other processes)"));
        return 0;
    }

    private void Print(string title, IReadOnlyList<TextInversionRow> rows)
    {
        console.WriteLine("");
        console.WriteLine(title);
        console.WriteLine("| method | mean cos(MiniLM(answer), true) ± SE | vs top-1: diff, t, p | ms/prompt (wall) | CPU ms/prompt | texts embedded/prompt |");
        console.WriteLine("|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            string test = r.VersusTop1 is { } t ? string.Create(CultureInfo.InvariantCulture, $"{EvaluationSummary.Difference(t.MeanDifference)}, t = {t.T:F2}, p = {t.PValue:G3}") : "";
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Method} | {r.Metrics.MeanCosine:F4} ± {r.Metrics.StandardError:F4} | {test} | {r.MillisecondsPerPrompt:F0} | {r.CpuMillisecondsPerPrompt:F0} | {r.TextsEmbeddedPerPrompt:F0} |"));
        }
    }
}

/// <summary>The composer's options, shared by `compose`, `predict` and `bench compose`.</summary>
internal class ComposerSettings : CommandSettings
{
    [CommandOption("--beam-width <N>")]
    [Description("Composer: prompts kept per step (default 4).")]
    public int BeamWidth { get; init; } = 4;

    [CommandOption("--steps <N>")]
    [Description("Composer: at most this many edit steps (default 5).")]
    public int Steps { get; init; } = 5;

    [CommandOption("--candidates <N>")]
    [Description("Composer: candidate prompts embedded per step (default 24).")]
    public int Candidates { get; init; } = 24;

    [CommandOption("--nearest <N>")]
    [Description("Nearest bank prompts listed, whose phrases the composer may take (default 10).")]
    public int Nearest { get; init; } = 10;

    /// <summary>The options these settings give.</summary>
    public PromptComposerOptions ComposerOptions() =>
        new() { BeamWidth = BeamWidth, Steps = Steps, CandidatesPerStep = Candidates, Neighbors = Nearest };

    public override ValidationResult Validate() =>
        BeamWidth < 1 ? ValidationResult.Error("--beam-width must be at least 1.")
        : Steps < 0 ? ValidationResult.Error("--steps must be >= 0.")
        : Candidates < 1 ? ValidationResult.Error("--candidates must be at least 1.")
        : Nearest < 1 ? ValidationResult.Error("--nearest must be at least 1.")
        : ValidationResult.Success();
}
