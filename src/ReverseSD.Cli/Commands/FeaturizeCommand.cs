using System.ComponentModel;
using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd featurize`: fills the feature cache for one shard of a data set (an array-job task), or prints its status.</summary>
internal sealed class FeaturizeCommand(IAnsiConsole console, CliStreams streams) : Command<FeaturizeCommand.Settings>
{
    /// <summary>Options of `featurize`.</summary>
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--data <DIR>")]
        [Description("Data set folder with train/, validation/, test/ metadata.csv.")]
        public string? Data { get; init; }

        [CommandOption("--split <NAME>")]
        [Description("train, validation, test or all (default: every split present).")]
        public string Split { get; init; } = "all";

        [CommandOption("--backbone <NAME>")]
        [Description("resnet18 (default), resnet18-SIZE, resnet18-grid (pooled + 3×3 grid features), or the path of an ONNX image encoder (with --preprocessing).")]
        public string Backbone { get; init; } = "resnet18";

        [CommandOption("--preprocessing <SPEC>")]
        [Description("Preprocessing of an ONNX backbone: compact spec or JSON file.")]
        public string? Preprocess { get; init; }

        [CommandOption("--cache-dir <DIR>")]
        [Description("Feature cache folder shared by all shards (default DATA/.cache); train reads it with the same --cache-dir.")]
        public string? CacheDir { get; init; }

        [CommandOption("--shard <K/N>")]
        [Description("Featurise shard K of N (K from 0). '--shard N' takes K from JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm). Default 0/1: everything.")]
        public string? Shard { get; init; }

        [CommandOption("--chunk-size <ROWS>")]
        [Description("Rows per chunk, the unit committed atomically and skipped on a rerun (default 512; the first shard to start fixes it).")]
        public int ChunkSize { get; init; } = FeatureCache.DefaultChunkSize;

        [CommandOption("--text")]
        [Description("Also cache each prompt's all-MiniLM-L6-v2 embedding (train then skips embedding the prompts).")]
        public bool Text { get; init; }

        [CommandOption("--status")]
        [Description("Print which shards and chunks of --cache-dir are done, and featurise nothing.")]
        public bool Status { get; init; }

        public override ValidationResult Validate()
        {
            if (Status)
                return string.IsNullOrWhiteSpace(CacheDir) && string.IsNullOrWhiteSpace(Data)
                    ? ValidationResult.Error("--status needs --cache-dir (or --data, whose default cache is DATA/.cache).")
                    : ValidationResult.Success();
            if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data is required: the data set folder (make one with 'reversesd data synth').");
            if (Split != "all" && !ImageFolderDataset.Splits.Contains(Split))
                return ValidationResult.Error($"--split must be train, validation, test or all (got '{Split}').");
            if (ChunkSize < 1) return ValidationResult.Error("--chunk-size must be at least 1.");
            return ValidationResult.Success();
        }
    }

    /// <summary>Summary lines go to the plain output writer (never wrapped by the console renderer), one per split or shard.</summary>
    private TextWriter Out => streams.Out;

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        string cache = settings.CacheDir ?? Path.Combine(settings.Data!, ".cache");
        if (settings.Status) return PrintStatus(cache);

        string data = settings.Data!;
        if (!Directory.Exists(data))
            throw new ReverseSdInputException($"Data folder '{data}' does not exist: make one with 'reversesd data synth --out DIR'.");
        var shard = settings.Shard == null ? FeatureShard.All : FeatureShard.Parse(settings.Shard);
        var splits = settings.Split == "all"
            ? ImageFolderDataset.Splits.Where(s => File.Exists(Path.Combine(data, s, ImageFolderDataset.MetadataFileName))).ToList()
            : [settings.Split];
        if (splits.Count == 0)
            throw new ReverseSdInputException($"Data folder '{data}' has no split with a {ImageFolderDataset.MetadataFileName} (train/, validation/, test/).");
        var backbone = ImageBackbone.Resolve(settings.Backbone, settings.Preprocess);
        var ml = new MLContext(seed: 1);
        var options = new FeatureCacheOptions { Shard = shard, ChunkSize = settings.ChunkSize, IncludePromptEmbeddings = settings.Text };

        foreach (string split in splits)
        {
            var report = ConsoleProgress.Run(console, $"featurising {split}",
                progress => FeatureCache.Featurize(ml, backbone, data, split, cache, options, progress, cancellationToken));
            double seconds = report.Elapsed.TotalSeconds;
            string speed = report.RowsComputed > 0
                ? string.Create(CultureInfo.InvariantCulture, $"{report.RowsComputed / seconds:F1} images/s")
                : "nothing to compute";
            Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{split} shard {report.Shard}: {report.Rows} rows ({report.Skipped} unreadable) in {report.Chunks} chunks, " +
                $"{report.ChunksComputed} featurised now, {report.Chunks - report.ChunksComputed} already done; {seconds:F1} s, {speed}"));
        }
        Out.WriteLine($"cache: {Path.GetFullPath(cache)}");
        return 0;
    }

    private int PrintStatus(string cache)
    {
        var sets = FeatureCache.Status(cache);
        if (sets.Count == 0)
        {
            Out.WriteLine($"{cache}: no featurised split yet");
            return 0;
        }
        foreach (var set in sets)
        {
            int done = set.ChunksDone.Sum(), total = set.ChunksTotal.Sum();
            Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{set.Split} {set.Backbone} ({Path.GetFileName(set.CachePath)}): {set.Rows} rows, {set.Shards} shard(s), {done}/{total} chunks: {(set.IsComplete ? "complete" : "incomplete")}"));
            for (int k = 0; k < set.Shards; k++)
                Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  shard {k}/{set.Shards}: {set.ChunksDone[k]}/{set.ChunksTotal[k]} chunks{(set.ChunksDone[k] == set.ChunksTotal[k] ? " done" : "")}"));
        }
        return 0;
    }
}
