using System.ComponentModel;
using System.Globalization;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Composer;
using ReverseSD.MLNet.Retrieval;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd compose`: target prompt embeddings (from embed-text, predict or another model) → prompts.</summary>
internal sealed class ComposeCommand(CliStreams streams) : Command<ComposeCommand.Settings>
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

        [CommandOption("--out <FILE>")]
        [Description("File to write the prompts to (written atomically); default: stdout.")]
        public string? Out { get; init; }

        [CommandOption("--format <FORMAT>")]
        [Description("json (one array), jsonl (one object per line) or csv; any case. Default: from --out's extension, else jsonl.")]
        public ResultFormat? Format { get; init; }

        [CommandOption("--compose <METHOD>")]
        [Description("beam (default), greedy (the baseline) or none (the nearest bank prompt).")]
        public string Compose { get; init; } = "beam";

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Bank)) return ValidationResult.Error("--bank is required: a bank from 'reversesd bank build'.");
            if (string.IsNullOrWhiteSpace(Embeddings)) return ValidationResult.Error("--embeddings is required: a jsonl/csv file of target embeddings.");
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
        using var results = ResultWriter.Open(streams, settings.Out, settings.Format ?? (settings.Out == null ? ResultFormat.Jsonl : null));
        using var composer = PromptComposer.Create(bank, settings.ComposerOptions());
        var method = ParseMethod(settings.Compose)!.Value;
        var composed = ConsoleProgress.Run(streams.Diagnostics, "Composing prompts", progress =>
        {
            var all = new List<ComposedPrompt>();
            foreach (var chunk in targets.Chunk(16))
            {
                foreach (var c in composer.Compose(chunk.Select(t => t.Embedding).ToList(), method, null, cancellationToken))
                {
                    results.Write(new ResultRecord()
                        .Text("id", targets[all.Count].Id)
                        .Text("prompt", c.Prompt)
                        .Number("prompt_score", c.Score)
                        .List("nearest_prompts", c.NearestPrompts.Select(m => new ResultRecord().Text("prompt", m.Prompt).Number("score", m.Score))));
                    all.Add(c);
                }
                progress.Report(new ProgressReport("Composing prompts", all.Count, targets.Count));
            }
            return all;
        });
        results.Complete();
        streams.Diagnostics.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"composed {composed.Count} prompts ({settings.Compose}); mean cosine to the targets {composed.Average(c => c.Score):F4}, {composed.Average(c => c.Time.TotalMilliseconds):F0} ms per prompt"));
        return 0;
    }
}
