using ReverseSD.Cli;

namespace ReverseSD.MLNet.Tests.Cli;

/// <summary>Conventions every command shares: errors on stderr in one line with exit 2, suggestions, --version.</summary>
public sealed class CliConventionsTests
{
    [Theory]
    [InlineData("predct", "Did you mean 'predict'?")]
    [InlineData("evalute", "Did you mean 'evaluate'?")]
    public void AnUnknownCommandSuggestsTheNearestOnStderrAndExitsWithTwo(string command, string suggestion)
    {
        var run = CliProcess.Run(command, "--model", "m.zip");
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Equal($"error: Unknown command '{command}'. {suggestion} See 'reversesd --help'.", Assert.Single(run.ErrorLines));
    }

    [Fact]
    public void AnUnknownCommandInABranchSuggestsTheNearestSubcommand()
    {
        var run = CliProcess.Run("data", "diffusondb", "--out", "x");
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Contains("Did you mean 'diffusiondb'?", Assert.Single(run.ErrorLines));
    }

    [Theory]
    [InlineData("--modle", "--model")]
    [InlineData("--top-word", "--top-words")]
    [InlineData("--formt", "--format")]
    public void AnUnknownOptionSuggestsTheNearestOption(string given, string suggested)
    {
        var run = CliProcess.Run("predict", "image.png", given, "x");
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Contains($"Did you mean '{suggested}'?", Assert.Single(run.ErrorLines));
    }

    [Theory]
    [InlineData("--top-words expects a whole number; got 'abc'.", "predict", "x.png", "--model", "m.zip", "--top-words", "abc")]
    [InlineData("--lambda expects a number (e.g. 0.1); got 'abc'.", "train", "--data", "d", "--lambda", "abc")]
    [InlineData("--epochs expects a whole number; got '1.5'.", "ablate", "heads", "--data", "d", "--epochs=1.5")]
    [InlineData("--epochs must be auto or a whole number of at least 1; got '1.5'.", "train", "--data", "d", "--epochs=1.5")]
    [InlineData("--format expects one of json, jsonl, csv (any case); got 'parquet'.", "predict", "x.png", "--model", "m.zip", "--format", "parquet")]
    public void AValueOfTheWrongTypeNamesTheOptionAndWhatItExpects(string message, params string[] args)
    {
        var run = CliProcess.Run(args);
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Equal("error: " + message, Assert.Single(run.ErrorLines));
    }

    [Fact]
    public void BadInputGoesToStderrOnOneLineEvenWhenLong()
    {
        using var dir = new TempDirectory();
        string missing = dir.File(new string('m', 150) + ".zip");
        var run = CliProcess.Run("predict", dir.Path, "--model", missing);
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("", run.Out);
        var line = Assert.Single(run.ErrorLines);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void ADiffusionDbSourceWithoutAnyPairIsAnErrorNotATableOfZeros()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("empty"));
        var run = CliProcess.Run("data", "diffusiondb", "--source", dir.File("empty"), "--out", dir.File("out"));
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Contains("No image/prompt pair found", Assert.Single(run.ErrorLines));
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Theory]
    [InlineData("--dakl-gamma", "0.1")]
    [InlineData("--dakl-alpha", "1")]
    public void AFixedDaklParameterWithoutDaklIsRefused(string option, string value)
    {
        var run = CliProcess.Run("train", "--data", "d", option, value);
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("error: --dakl-gamma and --dakl-alpha only apply with --dakl.", Assert.Single(run.ErrorLines));
    }

    [Fact]
    public void VersionPrintsTheToolVersionAndTheModelFormat()
    {
        var run = CliProcess.Run("--version");
        Assert.Equal(0, run.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+\S* \(model format reversesd-model/\d+\)\n$", run.Out);
        Assert.Equal(CliApp.VersionText + "\n", run.Out);
    }

    [Theory]
    [InlineData("predict", "predicy", 1)]
    [InlineData("--model", "--modle", 2)]
    [InlineData("abc", "abc", 0)]
    public void EditDistanceCountsInsertionsDeletionsAndSubstitutions(string a, string b, int distance) =>
        Assert.Equal(distance, CliApp.EditDistance(a, b));
}

/// <summary>One way to name things and to show defaults, checked over every option of every command.</summary>
public sealed class CliOptionNamingTests
{
    private static IEnumerable<(Type Settings, System.Reflection.PropertyInfo Property, Spectre.Console.Cli.CommandOptionAttribute Option)> Options() =>
        from type in typeof(CliApp).Assembly.GetTypes()
        where typeof(Spectre.Console.Cli.CommandSettings).IsAssignableFrom(type) && !type.IsAbstract
        from property in type.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
        let option = property.GetCustomAttributes(typeof(Spectre.Console.Cli.CommandOptionAttribute), true).Cast<Spectre.Console.Cli.CommandOptionAttribute>().FirstOrDefault()
        where option != null && !option.IsHidden
        select (type, property, option);

    [Fact]
    public void EveryOptionWithADefaultSaysItInItsHelpTheSameWay()
    {
        var missing = new List<string>();
        foreach (var (settings, property, option) in Options())
        {
            object? value = property.GetValue(Activator.CreateInstance(settings));
            bool hasDefault = value switch { null or false => false, string s => s.Length > 0, Array a => a.Length > 0, _ => true };
            string description = property.GetCustomAttributes(typeof(System.ComponentModel.DescriptionAttribute), true)
                .Cast<System.ComponentModel.DescriptionAttribute>().SingleOrDefault()?.Description ?? "";
            if (description.Length == 0) missing.Add($"{settings.FullName} --{option.LongNames[0]}: no description");
            else if (property.GetCustomAttributes(typeof(System.ComponentModel.DefaultValueAttribute), true).Length > 0)
                missing.Add($"{settings.FullName} --{option.LongNames[0]}: [DefaultValue] adds a second way to show defaults; say it in the description");
            // Either "(default X)" or, in a list of choices, the default marked in place: "mean (default), weighted or median".
            else if (hasDefault && !System.Text.RegularExpressions.Regex.IsMatch(description, @"\(default[ :;]|\(default\)|; default\)|, default\)"))
                missing.Add($"{settings.FullName} --{option.LongNames[0]} (= {value}): help does not say '(default ...)'");
        }
        Assert.True(missing.Count == 0, string.Join("\n", missing));
    }

    [Theory]
    [InlineData("--batch", "--batch-size")]
    [InlineData("--preprocess", "--preprocessing")]
    [InlineData("--size", "--image-size")]
    public void OneNamePerIdeaAcrossCommands(string oldName, string name)
    {
        var names = Options().SelectMany(o => o.Option.LongNames.Select(n => "--" + n)).ToHashSet();
        Assert.DoesNotContain(oldName, names);
        Assert.Contains(name, names);
    }

    [Theory]
    [InlineData("seed", 1)]
    [InlineData("epochs", 20)]
    public void SeedAndEpochsHaveOneDefaultInEveryCommand(string option, int expected)
    {
        var defaults = Options().Where(o => o.Option.LongNames.Contains(option))
            .Select(o => (o.Settings.FullName, Value: o.Property.GetValue(Activator.CreateInstance(o.Settings)))).ToList();
        Assert.True(defaults.Count >= 5);
        // train's --epochs defaults to "auto" (issue 14: stop on the validation cosine); a fixed count is 20 everywhere.
        Assert.All(defaults, d => Assert.True(Equals(expected, d.Value) || (option == "epochs" && Equals("auto", d.Value)), $"{d.FullName} --{option} defaults to {d.Value}"));
    }
}
