using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using ReverseSD.MLNet.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>
/// `reversesd bench metadata`: writes a DiffusionDB-like metadata.parquet of any size (DiffusionDB's column types, generated
/// prompts, every 500th image name repeated, one row group per --row-group rows) to measure `data diffusiondb` at scale, e.g. under /usr/bin/time -v.
/// </summary>
internal sealed class BenchMetadataCommand(CliStreams streams) : Command<BenchMetadataCommand.Settings>
{
    /// <summary>Options of `bench metadata`.</summary>
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--rows <N>")]
        [Description("Rows to write (default 2000000, DiffusionDB 2M; DiffusionDB Large has 14 M).")]
        public int Rows { get; init; } = 2_000_000;

        [CommandOption("--row-group <N>")]
        [Description("Rows per parquet row group (default 100000).")]
        public int RowGroup { get; init; } = 100_000;

        [CommandOption("--out <PATH>")]
        [Description("The parquet file to write (default metadata.parquet).")]
        public string Out { get; init; } = "metadata.parquet";

        [CommandOption("--seed <S>")]
        [Description("Seed of the generated prompts (default 1).")]
        public int Seed { get; init; } = 1;

        public override ValidationResult Validate() =>
            Rows < 1 || RowGroup < 1 ? ValidationResult.Error("--rows and --row-group must be at least 1.") : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        string path = Path.GetFullPath(settings.Out);
        DiffusionDbMetadataSample.Write(path, settings.Rows, settings.RowGroup, settings.Seed, cancellationToken);
        streams.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {path}: {settings.Rows} rows in {(settings.Rows + settings.RowGroup - 1) / settings.RowGroup} row groups, {new FileInfo(path).Length / 1e6:F1} MB, {clock.Elapsed.TotalSeconds:F1} s"));
        streams.Out.WriteLine(
            $"measure: /usr/bin/time -v reversesd data diffusiondb --source {path} --out DIR --prompts-only   (Maximum resident set size)");
        return 0;
    }
}
