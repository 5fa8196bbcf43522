using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.FineTuning;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd demo`: generate the default benchmark, train, evaluate, save, predict three test images.</summary>
internal sealed class DemoCommand(IAnsiConsole console) : Command<DemoCommand.Settings>
{
    /// <summary>Options of `demo`.</summary>
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--out <DIR>")]
        [Description("Folder for the benchmark, the feature cache, the model and the report (default reversesd-demo).")]
        public string Out { get; init; } = "reversesd-demo";

        [CommandOption("--seed <S>")]
        [Description("Seed of the benchmark and of training (default 1, as in every command).")]
        public int Seed { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.Seed;

        [CommandOption("--train <N>")]
        [Description("Training images (default 2000).")]
        public int Train { get; init; } = 2000;

        [CommandOption("--test <N>")]
        [Description("Validation and test images each (default 300).")]
        public int Test { get; init; } = 300;

        [CommandOption("--image-size <PIXELS>")]
        [Description("Image size (default 224, ResNet18's input).")]
        public int Size { get; init; } = 224;

        /// <summary>Old name of --image-size, still accepted.</summary>
        [CommandOption("--size <PIXELS>", IsHidden = true)]
        public int? SizeOldName { get => null; init { if (value is int v) Size = v; } }

        [CommandOption("--epochs <N|auto>")]
        [Description("Training epochs, or auto (default; as train: until the validation cosine stops improving); the epoch with the best validation cosine is kept.")]
        public string Epochs { get; init; } = "auto";

        [CommandOption("--backbone <NAMES>")]
        [Description("Backbone, or several comma separated for an ensemble (default resnet18; as train).")]
        public string Backbone { get; init; } = DefaultBackbone;

        [CommandOption("--finetune <PART>")]
        [Description("none (default) or layer4: fine-tune each ResNet18 backbone's last layer with the heads (as train).")]
        public string FineTune { get; init => field = value.Trim().ToLowerInvariant(); } = DefaultFineTune;

        [CommandOption("--finetune-epochs <N>")]
        [Description("Epochs of joint backbone + heads training with --finetune layer4 (default 5).")]
        public int FineTuneEpochs { get; init; } = BackboneFineTuningOptions.Defaults.NumberOfEpochs;

        [CommandOption("--dakl")]
        [Description("Fit DAKL on the ensemble embedding, γ and α chosen on validation and used only when better there (as train --dakl).")]
        public bool Dakl { get; init; }

        /// <summary>The backbones of --backbone.</summary>
        public IReadOnlyList<string> Backbones => Backbone.Split(',', StringSplitOptions.TrimEntries);

        public override ValidationResult Validate()
        {
            if (Backbones.Any(string.IsNullOrEmpty) || Backbones.Distinct(StringComparer.OrdinalIgnoreCase).Count() != Backbones.Count)
                return ValidationResult.Error($"--backbone must name distinct backbones separated by single commas; got '{Backbone}'.");
            if (FineTune is not ("none" or "layer4")) return ValidationResult.Error($"--finetune must be none or layer4; got '{FineTune}'.");
            if (FineTuneEpochs < 1) return ValidationResult.Error("--finetune-epochs must be at least 1.");
            if (Train < 10 || Test < 3) return ValidationResult.Error("--train must be at least 10 and --test at least 3.");
            if (Size is < 32 or > 1024) return ValidationResult.Error("--image-size must be between 32 and 1024.");
            if (HeadsArguments.ParseEpochs(Epochs) == null) return ValidationResult.Error($"--epochs must be auto or a whole number of at least 1; got '{Epochs}'.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        string data = Path.Combine(settings.Out, "data");
        string modelPath = Path.Combine(settings.Out, "model.zip");
        string reportPath = Path.Combine(settings.Out, "report.json");
        string pagePath = Path.Combine(settings.Out, "report.html");
        var benchmark = new SyntheticBenchmarkOptions { Train = settings.Train, Validation = settings.Test, Test = settings.Test, ImageSize = settings.Size, Seed = settings.Seed };
        if (!File.Exists(Path.Combine(data, "test", ImageFolderDataset.MetadataFileName)) || ImageFolderDataset.Read(data, "train").Count != settings.Train)
            ConsoleProgress.Run(console, "generating the benchmark", progress => SyntheticBenchmark.Generate(benchmark, data, progress, cancellationToken));
        else
            console.MarkupLineInterpolated($"reusing the benchmark in {data}");

        var ml = new MLContext(settings.Seed);
        ReverseSdTrainingOptions Member(string backbone) => new()
        {
            Backbone = backbone,
            CacheDirectory = Path.Combine(settings.Out, "cache"),
            Heads = new PromptEmbeddingHeadsTrainer.Options
            {
                NumberOfEpochs = HeadsArguments.ParseEpochs(settings.Epochs)!.Value.Epochs,
                AutomaticEpochs = HeadsArguments.ParseEpochs(settings.Epochs)!.Value.Automatic,
                Seed = settings.Seed,
            },
            FineTuning = new BackboneFineTuningOptions
            {
                Mode = settings.FineTune == "layer4" && EnsembleTraining.IsResNet18(backbone) ? BackboneFineTuning.Layer4 : BackboneFineTuning.None,
                NumberOfEpochs = settings.FineTuneEpochs,
            },
        };
        var (report, test, baseline, testImages) = settings.Backbones.Count == 1 && !settings.Dakl
            ? TrainSingle(ml, data, Member(settings.Backbone), modelPath, reportPath, cancellationToken)
            : TrainEnsemble(ml, data, new ReverseSdEnsembleOptions { Members = settings.Backbones.Select(Member).ToList(), UseDakl = settings.Dakl },
                modelPath, reportPath, cancellationToken);
        EvaluationSummary.Print(console, report);
        // The answer in words: a prompt bank of the training prompts, the composed prompt, and its cosine to the true prompt.
        string bankPath = Path.Combine(settings.Out, "train-prompts.rsdbank");
        if (!File.Exists(bankPath))
            ConsoleProgress.Run(console, "prompt bank (training prompts)", progress =>
                PromptBankBuilder.Build(bankPath, new PromptBankBuildOptions { Inputs = [Path.Combine(data, "train", ImageFolderDataset.MetadataFileName)] }, progress, cancellationToken));
        using var bank = PromptBank.Open(bankPath);
        var model = ReverseSdModel.Load(ml, modelPath);
        try
        {
            EvaluationPage.Write(pagePath, report, test, baseline,
                EvaluationPage.Examples(ml, model, data, "test", testImages, test));
            var testPairs = ImageFolderDataset.Read(data, "test").Take(3).ToList();
            var predictions = ReverseSdModel.Predict(ml, model, testPairs.Select(p => Path.Combine(data, "test", p.FileName)).ToList(),
                new PromptPredictionOptions { TopWords = 5, Bank = bank }, out _, cancellationToken);
            using var encoder = SentenceEncoder.Load();
            for (int i = 0; i < predictions.Count; i++)
            {
                var truth = encoder.Encode(testPairs[i].Prompt);
                double composedCosine = PromptEmbeddingEvaluator.Cosine(encoder.Encode(predictions[i].Prompt!), truth);
                console.MarkupLineInterpolated($"[bold]{testPairs[i].FileName}[/]  true prompt: {testPairs[i].Prompt}");
                console.MarkupLineInterpolated($"    composed prompt: {predictions[i].Prompt}  (cosine to the true prompt {composedCosine.ToString("F3", CultureInfo.InvariantCulture)}; nearest bank prompt {PromptEmbeddingEvaluator.Cosine(encoder.Encode(predictions[i].NearestPrompts[0].Prompt), truth).ToString("F3", CultureInfo.InvariantCulture)})");
                console.MarkupLineInterpolated($"    predicted words: {string.Join(", ", predictions[i].TopWords.Select(w => $"{w.Word} {w.Probability.ToString("F2", CultureInfo.InvariantCulture)}"))}");
            }
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
        console.MarkupLineInterpolated($"model: {Path.GetFullPath(modelPath)}  report: {Path.GetFullPath(reportPath)}  page: {Path.GetFullPath(pagePath)}  ({clock.Elapsed.TotalSeconds:F0} s)");
        return 0;
    }

    /// <summary>The demo's default backbones (chosen by what the system ablation measured; see the README).</summary>
    public const string DefaultBackbone = "resnet18";

    /// <summary>The demo's default fine-tuning.</summary>
    public const string DefaultFineTune = "none";

    private (EvaluationReport, CosineMetrics, CosineMetrics, IReadOnlyList<string>) TrainSingle(MLContext ml, string data, ReverseSdTrainingOptions options,
        string modelPath, string reportPath, CancellationToken cancellationToken)
    {
        using var trained = ConsoleProgress.Run(console, "training", progress => ReverseSdModel.Train(ml, data, options, progress, cancellationToken));
        trained.Save(modelPath);
        ReverseSdModel.WriteReport(trained.Report, reportPath, trained.TestImages, trained.Test, trained.Baseline);
        console.WriteLine();
        return (trained.Report, trained.Test, trained.Baseline, trained.TestImages);
    }

    private (EvaluationReport, CosineMetrics, CosineMetrics, IReadOnlyList<string>) TrainEnsemble(MLContext ml, string data, ReverseSdEnsembleOptions options,
        string modelPath, string reportPath, CancellationToken cancellationToken)
    {
        using var trained = ConsoleProgress.Run(console, "training", progress => ReverseSdEnsemble.Train(ml, data, options, progress, cancellationToken));
        trained.Save(modelPath);
        ReverseSdModel.WriteReport(trained.Report, reportPath, trained.TestImages, trained.Test, trained.Baseline);
        console.WriteLine();
        EnsembleTraining.PrintRows(console, trained);
        return (trained.Report, trained.Test, trained.Baseline, trained.TestImages);
    }
}
