using System.ComponentModel;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Composer;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Retrieval;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd compose`: target prompt embeddings (from embed-text, predict or another model) → prompts.</summary>
internal sealed class ComposeCommand(IAnsiConsole console) : Command<ComposeCommand.Settings>
{
    /// <summary>Options of `compose`.</summary>
    internal sealed class Settings : ComposerSettings
    {
        [CommandOption("--bank <PATH>")]
        [Description("Prompt bank written by 'reversesd bank build'.")]
        public string? Bank { get; init; }

        [CommandOption("--embeddings <PATH>")]
        [Description("Target embeddings: JSON lines / JSON array with an \"embedding\" array per record, or CSV with e0..e383 columns.")]
        public string? Embeddings { get; init; }

        [CommandOption("--out <PATH>")]
        [Description("Output file (written atomically): .csv gives CSV, anything else JSON lines.")]
        public string? Out { get; init; }

        [CommandOption("--compose <METHOD>")]
        [Description("beam (default), greedy (the baseline) or none (the nearest bank prompt).")]
        [DefaultValue("beam")]
        public string Compose { get; init; } = "beam";

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Bank)) return ValidationResult.Error("--bank is required: a bank from 'reversesd bank build'.");
            if (string.IsNullOrWhiteSpace(Embeddings)) return ValidationResult.Error("--embeddings is required: a jsonl/csv file of target embeddings.");
            if (string.IsNullOrWhiteSpace(Out)) return ValidationResult.Error("--out is required: the file to write the prompts to.");
            if (ParseMethod(Compose) == null) return ValidationResult.Error($"--compose must be beam, greedy or none; got '{Compose}'.");
            return base.Validate();
        }
    }

    /// <summary>The method named on the command line, or null.</summary>
    internal static CompositionMethod? ParseMethod(string name) => name switch
    {
        "beam" => CompositionMethod.Beam,
        "greedy" => CompositionMethod.Greedy,
        "none" => CompositionMethod.None,
        _ => null,
    };

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var bank = PromptBank.Open(settings.Bank!);
        var targets = TargetEmbeddingsFile.Read(settings.Embeddings!, bank.Dimension);
        using var composer = PromptComposer.Create(bank, settings.ComposerOptions());
        var method = ParseMethod(settings.Compose)!.Value;
        var composed = ConsoleProgress.Run(console, "Composing prompts", progress =>
        {
            var all = new List<ComposedPrompt>();
            foreach (var chunk in targets.Chunk(16))
            {
                all.AddRange(composer.Compose(chunk.Select(t => t.Embedding).ToList(), method, null, cancellationToken));
                progress.Report(new ProgressReport("Composing prompts", all.Count, targets.Count));
            }
            return all;
        });
        Write(settings.Out!, targets, composed);
        console.WriteLine($"Wrote {composed.Count} prompts ({settings.Compose}) to {settings.Out}; mean cosine to the targets {composed.Average(c => c.Score).ToString("F4", CultureInfo.InvariantCulture)}, {composed.Average(c => c.Time.TotalMilliseconds).ToString("F0", CultureInfo.InvariantCulture)} ms per prompt");
        return 0;
    }

    private static void Write(string path, IReadOnlyList<TargetEmbedding> targets, IReadOnlyList<ComposedPrompt> composed)
    {
        if (Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase))
        {
            CsvTable.Write(path, ["id", "prompt", "prompt_score", "nearest_prompt", "nearest_score"], composed.Select((c, i) => (IReadOnlyList<string>)
                [targets[i].Id, c.Prompt, c.Score.ToString("R", CultureInfo.InvariantCulture), c.NearestPrompts[0].Prompt, c.NearestPrompts[0].Score.ToString("R", CultureInfo.InvariantCulture)]));
            return;
        }
        var options = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        var lines = composed.Select((c, i) => JsonSerializer.Serialize(new
        {
            id = targets[i].Id,
            prompt = c.Prompt,
            prompt_score = c.Score,
            nearest_prompts = c.NearestPrompts.Select(m => new { prompt = m.Prompt, score = m.Score }),
        }, options));
        AtomicFile.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"));
    }
}
