using ReverseSD.MLNet;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli;

/// <summary>The `reversesd` command tree; shared by Program and the CLI tests (CommandAppTester).</summary>
internal static class CliApp
{
    /// <summary>Exit code for bad input (missing file, wrong column, empty prompt, ...).</summary>
    public const int BadInput = 2;

    /// <summary>Exit code for any other failure.</summary>
    public const int Failure = 1;

    /// <summary>Registers every command. Commands stay thin: they parse, call the library and print.</summary>
    public static void Configure(IConfigurator config)
    {
        config.SetApplicationName("reversesd");
        config.UseStrictParsing();
        config.CancellationExitCode(130);
        config.SetExceptionHandler((ex, resolver) =>
            HandleException(resolver?.Resolve(typeof(IAnsiConsole)) as IAnsiConsole ?? AnsiConsole.Console, ex));
        // Commands are registered below, one line each, grouped by issue area.
        config.AddCommand<Commands.TrainCommand>("train").WithDescription("Train backbone features -> embedding + vocabulary heads; save one model zip.");
        config.AddCommand<Commands.EvaluateCommand>("evaluate").WithDescription("Mean cosine of a model on a split, with baseline, ceiling and per-sample cosines.");
        config.AddCommand<Commands.PredictCommand>("predict").WithDescription("Prompt embedding and most probable vocabulary words of images.");
        config.AddCommand<Commands.DemoCommand>("demo").WithDescription("Generate the benchmark, train, evaluate, save and predict (a few minutes).");
        config.AddCommand<Commands.EmbedTextCommand>("embed-text").WithDescription("Embed prompts with all-MiniLM-L6-v2 (384-d, unit norm): the paper's prompt embeddings.");
        config.AddBranch("data", data =>
        {
            data.SetDescription("Prepare data sets: DiffusionDB downloads, the generated benchmark.");
            data.AddCommand<Commands.DataSynthCommand>("synth").WithDescription("Generate the synthetic benchmark (seeded, deterministic).");
            data.AddCommand<Commands.DataDiffusionDbCommand>("diffusiondb").WithDescription("Filter and split a raw DiffusionDB download into an image folder.");
        });
        config.AddBranch("analyze", analyze =>
        {
            analyze.SetDescription("Analyses of the training data and the models.");
            analyze.AddCommand<Commands.AnalyzeDifficultyCommand>("difficulty").WithDescription("Curriculum difficulty of every training pair: histogram, AUROC vs label noise, examples (paper Fig. 9).");
        });
        config.AddBranch("ablate", ablate =>
        {
            ablate.SetDescription("Ablation tables of the paper on a data set folder (cached features).");
            ablate.AddCommand<Commands.AblateHeadsCommand>("heads").WithDescription("Paper Table 1: vanilla / + MLC / + MLC + CL, mean ± std over seeds, paired t-tests.");
            ablate.AddCommand<Commands.AblateEnsembleCommand>("ensemble").WithDescription("Every combination of ensemble members with its test mean cosine (Table 9), with and without DAKL.");
        });
        config.AddBranch("bench", bench =>
        {
            bench.SetDescription("Measure speed and memory; figures are printed, never assumed.");
            bench.AddCommand<Commands.BenchFiltersCommand>("filters").WithDescription("Time the four prompt filters on generated prompts.");
            bench.AddCommand<Commands.BenchBackboneCommand>("backbone").WithDescription("Time an image backbone: raw ONNX Runtime, the fast path and the ML.NET chain, with ratios (generated images or --images DIR).");
            bench.AddCommand<Commands.BenchTextCommand>("text").WithDescription("Sentence-encoder throughput in prompts per second.");
            bench.AddCommand<Commands.BenchDaklCommand>("dakl").WithDescription("Time a DAKL fit (k-means, kernel, solve, W) on random unit vectors.");
        });
    }

    /// <summary>Prints one clear error line; bad input exits with <see cref="BadInput"/>.</summary>
    public static int HandleException(IAnsiConsole console, Exception ex)
    {
        var inner = ex is CommandRuntimeException { InnerException: { } i } ? i : ex;
        switch (inner)
        {
            case ReverseSdInputException input:
                console.MarkupLineInterpolated($"[red]error:[/] {input.Message}");
                return BadInput;
            case CommandParseException or CommandRuntimeException:
                console.MarkupLineInterpolated($"[red]error:[/] {inner.Message}");
                return BadInput;
            case OperationCanceledException:
                console.MarkupLine("[yellow]cancelled[/]");
                return 130;
            default:
                console.MarkupLineInterpolated($"[red]error:[/] {inner.GetType().Name}: {inner.Message}");
                return Failure;
        }
    }
}
