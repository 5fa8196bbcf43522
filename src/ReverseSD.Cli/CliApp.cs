using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Heads;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli;

/// <summary>
/// The `reversesd` command tree; shared by Program and the CLI tests. Conventions for every command (see <see cref="CliStreams"/>):
/// results through <see cref="ResultWriter"/> to stdout or --out; errors only by throwing <see cref="ReverseSdInputException"/>
/// (one line on stderr, exit 2); option names are the same across commands (--out, --format, --batch-size, --seed, --epochs).
/// </summary>
internal static partial class CliApp
{
    /// <summary>Exit code for bad input or usage (missing file, wrong column, unknown option, a value of the wrong type).</summary>
    public const int BadInput = 2;

    /// <summary>Exit code for any other failure (a bug).</summary>
    public const int Failure = 1;

    /// <summary>Exit code after Ctrl+C.</summary>
    public const int Cancelled = 130;

    /// <summary>Runs the tool with results on <paramref name="stdout"/> and errors on <paramref name="stderr"/>; returns the exit code.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var streams = new CliStreams(stdout, stderr);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
        var app = new CommandApp();
        app.Configure(config =>
        {
            Configure(config, streams, args);
            config.ConfigureConsole(console);
        });
        return app.RunAsync(args);
    }

    /// <summary>Registers every command; results and errors go to the console Spectre is given (CommandAppTester's).</summary>
    public static void Configure(IConfigurator config) => Configure(config, null, null);

    /// <summary>Registers every command. Commands stay thin: they parse, call the library and print.</summary>
    public static void Configure(IConfigurator config, CliStreams? streams, IReadOnlyList<string>? args)
    {
        var settings = config.Settings;
        streams ??= new CliStreams(() => settings.Console ?? AnsiConsole.Console);
        settings.Registrar.RegisterInstance(streams);
        config.SetApplicationName("reversesd");
        config.SetApplicationVersion(VersionText);
        config.UseStrictParsing();
        config.CancellationExitCode(Cancelled);
        config.SetExceptionHandler((ex, _) => HandleException(streams, ex, args));
        // Commands are registered below, one line each, grouped by issue area.
        config.AddCommand<Commands.TrainCommand>("train").WithDescription("Train backbone features -> embedding + vocabulary heads; save one model zip.");
        config.AddCommand<Commands.EvaluateCommand>("evaluate").WithDescription("Mean cosine of a model on a split, with baseline, ceiling and per-sample cosines.");
        config.AddCommand<Commands.PredictCommand>("predict").WithDescription("Prompt embedding and most probable vocabulary words of images.");
        config.AddCommand<Commands.ServeCommand>("serve").WithDescription("HTTP scoring API and web page over a model zip (loopback by default).");
        config.AddCommand<Commands.DemoCommand>("demo").WithDescription("Generate the benchmark, train, evaluate, save and predict (a few minutes).");
        config.AddCommand<Commands.FeaturizeCommand>("featurize").WithDescription("Fill the feature cache for one shard K/N of a data set (Kubernetes Indexed Job / Slurm array task), or --status.");
        config.AddCommand<Commands.EmbedTextCommand>("embed-text").WithDescription("Embed prompts with all-MiniLM-L6-v2 (384-d, unit norm): the paper's prompt embeddings.");
        config.AddBranch("data", data =>
        {
            data.SetDescription("Prepare data sets: DiffusionDB downloads, the generated benchmark.");
            data.AddCommand<Commands.DataSynthCommand>("synth").WithDescription("Generate the synthetic benchmark (seeded, deterministic).");
            data.AddCommand<Commands.DataDiffusionDbCommand>("diffusiondb").WithDescription("Filter and split a raw DiffusionDB download into an image folder.");
        });
        config.AddCommand<Commands.ComposeCommand>("compose").WithDescription("Target prompt embeddings (embed-text, predict or another model) -> prompts, with a prompt bank.");
        config.AddBranch("bank", bank =>
        {
            bank.SetDescription("Prompt banks: prompts with their MiniLM embeddings, searched by cosine.");
            bank.AddCommand<Commands.BankBuildCommand>("build").WithDescription("Read, deduplicate (optionally filter) and embed prompts into a bank file (resumable).");
            bank.AddCommand<Commands.BankInfoCommand>("info").WithDescription("Count, dimensions, encoder, sources and size of a bank.");
        });
        config.AddBranch("analyze", analyze =>
        {
            analyze.SetDescription("Analyses of the training data and the models.");
            analyze.AddCommand<Commands.AnalyzeDifficultyCommand>("difficulty").WithDescription("Curriculum difficulty of every training pair: histogram, AUROC vs label noise, examples (paper Fig. 9).");
            analyze.AddCommand<Commands.AnalyzeSeedsCommand>("seeds").WithDescription("How much predictions move with the generation seed (paper §4.7), for the model and the kNN baseline.");
        });
        config.AddBranch("ablate", ablate =>
        {
            ablate.SetDescription("Ablation tables of the paper on a data set folder (cached features).");
            ablate.AddCommand<Commands.AblateHeadsCommand>("heads").WithDescription("Paper Table 1: vanilla / + MLC / + MLC + CL, mean ± std over seeds, paired t-tests.");
            ablate.AddCommand<Commands.AblateEnsembleCommand>("ensemble").WithDescription("Every combination of ensemble members with its test mean cosine (Table 9), with and without DAKL.");
            ablate.AddCommand<Commands.AblateSystemCommand>("system").WithDescription("The full system step by step: frozen single, fine-tuned single, ensemble of fine-tuned members, + DAKL as validation chooses; paired t-tests, % of the way to the ceiling.");
        });
        config.AddBranch("bench", bench =>
        {
            bench.SetDescription("Measure speed and memory; figures are printed, never assumed.");
            bench.AddCommand<Commands.BenchFiltersCommand>("filters").WithDescription("Time the four prompt filters on generated prompts.");
            bench.AddCommand<Commands.BenchBackboneCommand>("backbone").WithDescription("Time an image backbone: raw ONNX Runtime, the fast path and the ML.NET chain, with ratios (generated images or --images DIR).");
            bench.AddCommand<Commands.BenchPredictCommand>("predict").WithDescription("reversesd predict vs the PyTorch CPU peer on the same images, in the same run (images/s, ratio, peak RSS).");
            bench.AddCommand<Commands.BenchTextCommand>("text").WithDescription("Sentence-encoder throughput in prompts per second.");
            bench.AddCommand<Commands.BenchBankCommand>("bank").WithDescription("Exact top-k prompt-bank search (ms per query) on a generated bank, against a plain loop.");
            bench.AddCommand<Commands.BenchComposeCommand>("compose").WithDescription("Text inversion on real prompts: held-out prompts' embeddings -> top-1, greedy and beam prompts, with t-tests.");
            bench.AddCommand<Commands.BenchMetadataCommand>("metadata").WithDescription("Write a DiffusionDB-like metadata.parquet of N rows (by row groups) to measure data diffusiondb at scale.");
            bench.AddCommand<Commands.BenchServeCommand>("serve").WithDescription("Load-test `serve` on a loopback port: requests/s, latency, errors, memory vs batch predict.");
            bench.AddCommand<Commands.BenchDaklCommand>("dakl").WithDescription("Time a DAKL fit (k-means, kernel, solve, W) on random unit vectors.");
        });
    }

    /// <summary>What `reversesd --version` prints: the tool's version and the model format it reads and writes.</summary>
    public static string VersionText
    {
        get
        {
            string version = typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            int plus = version.IndexOf('+', StringComparison.Ordinal);
            if (plus >= 0 && version.Length > plus + 8) version = version[..(plus + 8)]; // short commit id
            return $"{version} (model format {ReverseSdModelFormat.Version})";
        }
    }

    /// <summary>Prints one error line on stderr and returns the exit code: 2 for bad input or usage, 130 cancelled, 1 otherwise.</summary>
    public static int HandleException(CliStreams streams, Exception ex, IReadOnlyList<string>? args)
    {
        var (message, code) = Describe(ex, args);
        streams.Error.WriteLine(code == Cancelled ? "cancelled" : "error: " + OneLine(message));
        streams.Error.Flush();
        return code;
    }

    /// <summary>The message and exit code of an exception that ended a command.</summary>
    internal static (string Message, int ExitCode) Describe(Exception ex, IReadOnlyList<string>? args)
    {
        var inner = ex;
        while (inner is CommandRuntimeException or TargetInvocationException or AggregateException && inner.InnerException != null)
            inner = inner.InnerException;
        if (FindInChain<ReverseSdInputException>(ex) is { } input) return (input.Message, BadInput);
        if (FindInChain<OperationCanceledException>(ex) != null) return ("cancelled", Cancelled);
        if (WrongValue(ex, args) is { } wrongValue) return (wrongValue, BadInput);
        switch (inner)
        {
            case CommandParseException parse:
                return (parse.Message + Suggestion(parse), BadInput);
            case CommandRuntimeException or CommandConfigurationException:
                return (inner.Message, BadInput);
            default:
                return ($"{inner.GetType().Name}: {inner.Message}", Failure);
        }
    }

    private static T? FindInChain<T>(Exception? ex) where T : Exception
    {
        for (; ex != null; ex = ex.InnerException)
            if (ex is T t) return t;
        return null;
    }

    private static string OneLine(string message) => LineBreaks().Replace(message.Trim(), " ");

    /// <summary>"abc is not a valid value for Int32" from a type converter, told as "--top-words expects a whole number; got 'abc'".</summary>
    private static string? WrongValue(Exception ex, IReadOnlyList<string>? args)
    {
        for (var e = ex; e != null; e = e.InnerException)
        {
            if (e is not (ArgumentException or FormatException or InvalidOperationException or OverflowException)) continue;
            var match = NotAValidValue().Match(e.Message);
            if (!match.Success) continue;
            string value = match.Groups["value"].Value, typeName = match.Groups["type"].Value;
            string? option = args == null ? null : OptionGiven(args, value);
            var type = option != null && CliOptions.Types.TryGetValue(option, out var t) ? t : null;
            string expected = Expectation(type, typeName);
            return option != null
                ? $"{option} expects {expected}; got '{value}'."
                : $"'{value}' is not {expected}.";
        }
        return null;
    }

    /// <summary>The option given <paramref name="value"/> on the command line ("--opt value" or "--opt=value").</summary>
    private static string? OptionGiven(IReadOnlyList<string> args, string value)
    {
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            int eq = a.IndexOf('=', StringComparison.Ordinal);
            if (a.StartsWith("--", StringComparison.Ordinal) && eq > 0 && a[(eq + 1)..] == value) return a[..eq];
            if (a == value && i > 0 && args[i - 1].StartsWith('-')) return args[i - 1];
        }
        return null;
    }

    private static string Expectation(Type? type, string typeName)
    {
        type = type == null ? null : Nullable.GetUnderlyingType(type) ?? type;
        // A text option never fails to convert: another command declares the option with the type that failed (--epochs: auto|N vs N).
        if (type == typeof(string)) type = null;
        if (type is { IsEnum: true })
            return "one of " + string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant())) + " (any case)";
        return (type?.Name ?? typeName) switch
        {
            "Int32" or "Int64" or "Int16" => "a whole number",
            "Single" or "Double" or "Decimal" => "a number (e.g. 0.1)",
            "Boolean" => "true or false",
            _ => $"a {typeName} value",
        };
    }

    /// <summary>" Did you mean ...?" for an unknown command (Spectre's own suggestion) or option (the nearest option name).</summary>
    private static string Suggestion(CommandParseException parse)
    {
        var unknown = UnknownToken().Match(parse.Message);
        if (!unknown.Success) return "";
        if (unknown.Groups["kind"].Value == "command")
        {
            string pretty = Render(parse.Pretty);
            var mean = DidYouMean().Match(pretty);
            return mean.Success ? $" Did you mean '{mean.Groups["name"].Value}'? See 'reversesd --help'." : " See 'reversesd --help'.";
        }
        string option = "--" + unknown.Groups["name"].Value.TrimStart('-');
        var nearest = CliOptions.Visible.Select(o => (Name: o, Distance: EditDistance(o, option)))
            .Where(c => c.Distance <= Math.Max(2, option.Length / 3)).OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal).FirstOrDefault();
        return nearest.Name != null ? $" Did you mean '{nearest.Name}'? See the command's --help." : " See the command's --help.";
    }

    private static string Render(Spectre.Console.Rendering.IRenderable? renderable)
    {
        if (renderable == null) return "";
        var text = new StringWriter(CultureInfo.InvariantCulture);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Out = new AnsiConsoleOutput(text), Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 1000;
        console.Write(renderable);
        return text.ToString();
    }

    /// <summary>Levenshtein distance (insertions, deletions, substitutions).</summary>
    internal static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    [GeneratedRegex(@"\s*[\r\n]+\s*")]
    private static partial Regex LineBreaks();

    [GeneratedRegex(@"^(?<value>.*) is not a valid value for (?<type>[\w.`]+)\.", RegexOptions.Singleline)]
    private static partial Regex NotAValidValue();

    [GeneratedRegex(@"Unknown (?<kind>command|option) '(?<name>[^']+)'")]
    private static partial Regex UnknownToken();

    [GeneratedRegex(@"Did you mean '(?<name>[^']+)'")]
    private static partial Regex DidYouMean();
}

/// <summary>Every long option of every command, with its property type (for messages about wrong values and suggestions).</summary>
internal static class CliOptions
{
    /// <summary>"--name" → the type of its property (the first found when several commands declare it).</summary>
    public static IReadOnlyDictionary<string, Type> Types { get; } = All().GroupBy(o => o.Name).ToDictionary(g => g.Key, g => g.First().Type, StringComparer.Ordinal);

    /// <summary>The names shown in help (old names kept as hidden aliases are never suggested).</summary>
    public static IReadOnlyList<string> Visible { get; } = All().Where(o => !o.Hidden).Select(o => o.Name).Distinct().ToList();

    private static IEnumerable<(string Name, Type Type, bool Hidden)> All() =>
        from settings in typeof(CliApp).Assembly.GetTypes()
        where typeof(CommandSettings).IsAssignableFrom(settings)
        from property in settings.GetProperties(BindingFlags.Public | BindingFlags.Instance)
        let option = property.GetCustomAttribute<CommandOptionAttribute>()
        where option != null
        from name in option.LongNames
        select ("--" + name, property.PropertyType, option.IsHidden);
}
