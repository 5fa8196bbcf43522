using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.FineTuning;
using ReverseSD.MLNet.Retrieval;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>
/// The ensemble pipeline (paper §4.9 and §3 "Meta-regression"): trains one heads model per member backbone, combines their
/// predicted embeddings (weights fitted on the validation split for a weighted mean), optionally fits DAKL on the training
/// samples' ensemble embeddings with the unlabelled target-domain images, and evaluates each stage on the test split.
/// </summary>
public static class ReverseSdEnsemble
{
    internal const string EnsembleColumn = ColumnNames.EnsembleEmbedding;
    internal const string OutputColumn = ColumnNames.PredictedEmbedding;
    internal const string LabelColumn = ColumnNames.PromptEmbedding;

    /// <summary>Name of a member's copied embedding column inside the saved chain (1-based).</summary>
    public static string MemberColumnName(int member) => ReverseSdPipeline.MemberColumnName(member);

    /// <summary>
    /// Trains the members and the ensemble on DATA/train (validation on DATA/validation when present), evaluates on DATA/test: the
    /// stages of <see cref="ReverseSdPipeline.Create(MLContext, ReverseSdEnsembleOptions, IProgress{ProgressReport}, CancellationToken)"/>,
    /// fitted on the cached backbone features, with the fitted backbones in front.
    /// </summary>
    public static ReverseSdEnsembleTrainedModel Train(MLContext mlContext, string dataDirectory, ReverseSdEnsembleOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        var pipeline = ReverseSdPipeline.Create(mlContext, options, progress, cancellationToken);
        (List<string> Good, int Skipped)? adaptTo = options.AdaptToDirectory == null ? null : TargetDomainImages(options.AdaptToDirectory);
        // Every member's features and the prompts' embeddings, computed once for all members and the ensemble stages.
        for (int k = 0; k < options.Members.Count; k++) PreparedFineTuning.Check(options.Members[k], pipeline.Backbones[k]);
        var data = PreparedSplits.Prepare(mlContext, dataDirectory, pipeline.Backbones.Select((b, k) => (b, options.Members[k].CacheDirectory)).ToList(),
            withTest: true, progress, cancellationToken, options.Members[0].CacheChunkSize);
        var tuned = FineTuneMembers(data, options, progress, cancellationToken);
        // Each fine-tuned member's features: train and validation as its fine-tuner computed them, the test split through its
        // fine-tuned graph (its own cache entry); frozen members keep theirs.
        data = data.WithFineTuned(mlContext, tuned, options.Members.Select(m => m.CacheDirectory).ToList(), progress, cancellationToken,
            options.Members[0].CacheChunkSize);
        if (data.Train.Count < 2)
            throw new ReverseSdInputException($"The train split of '{dataDirectory}' has fewer than 2 readable images: too few for an ensemble or DAKL.");
        var bank = pipeline.BankStage(ReverseSdModel.PreparedBank(pipeline, data));

        var members = new List<ReverseSdTrainedModel>();
        try
        {
            for (int k = 0; k < options.Members.Count; k++)
            {
                string prefix = $"member {k + 1}/{options.Members.Count} ({options.Members[k].Backbone}): ";
                members.Add(ReverseSdModel.TrainOnPrepared(pipeline, data, k, ProgressStages.Prefixed(progress, prefix), tuned.GetValueOrDefault(k)));
            }
            return Combine(pipeline, data, members, adaptTo, bank, progress, cancellationToken);
        }
        catch
        {
            foreach (var m in members) m.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Every non-empty combination of the members (paper Table 9 order) with its test mean cosine; with <paramref name="withDakl"/>,
    /// DAKL is refitted on each combination's ensemble embeddings with the model's chosen (or fixed) γ and α.
    /// </summary>
    public static IReadOnlyList<EnsembleAblationResult> Ablate(MLContext mlContext, ReverseSdEnsembleTrainedModel model, bool withDakl,
        IProgress<ProgressReport>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(model);
        var data = model.Data;
        int m = data.Train.Length, d = data.EmbeddingSize;
        var weights = model.Combiner.Weights.Count == m ? model.Combiner.Weights.ToArray() : null;
        var subsets = EnsembleAblation.Subsets(m);
        var options = model.Options;
        var pipeline = ReverseSdPipeline.Create(mlContext, new ReverseSdEnsembleOptions
        {
            Members = options.Members, Combination = options.Combination, UseDakl = true, DaklCentroids = options.DaklCentroids,
            DaklSelection = DaklSelectionMode.Fixed, PromptBank = ReverseSdTrainingOptions.NoBank,
        });
        var results = new List<EnsembleAblationResult>();
        foreach (var subset in subsets)
        {
            float[][] Combine(float[][][] split) => Rows(EmbeddingCombiner.Combine(
                subset.Select(i => EmbeddingMatrix.FromRows(split[i])).ToArray(), model.Combiner.Combination, weights == null ? null : subset.Select(i => weights[i]).ToArray()), d);
            var test = Combine(data.Test);
            double plain = PromptEmbeddingEvaluator.Evaluate(test, data.TestTargets).MeanCosine;
            double? adapted = null;
            if (withDakl)
            {
                var chosen = model.DaklSelection;
                using var dakl = pipeline.Dakl(null, new VectorTableDataView((EnsembleColumn, d, Combine(data.TargetDomain))), LabelColumn,
                    chosen?.Gamma ?? model.Options.DaklGamma, chosen?.Alpha ?? model.Options.DaklAlpha, progress: null)
                    .Fit(new VectorTableDataView((EnsembleColumn, d, Combine(data.Train)), (LabelColumn, d, data.TrainTargets)));
                adapted = PromptEmbeddingEvaluator.Evaluate(VectorTableDataView.TransformRows(dakl, test, EnsembleColumn, OutputColumn, d), data.TestTargets).MeanCosine;
            }
            results.Add(new EnsembleAblationResult(subset.Select(i => model.MemberNames[i]).ToArray(), plain, adapted));
            progress?.Report(new ProgressReport("ensemble ablation", results.Count, subsets.Count));
        }
        return results;
    }

    /// <summary>
    /// Fine-tunes each member whose options ask for it (<see cref="ReverseSdTrainingOptions.FineTuning"/>), one after the other,
    /// on the prepared splits; the fine-tuned backbones by member index (empty when no member fine-tunes).
    /// </summary>
    internal static Dictionary<int, FineTunedBackbone> FineTuneMembers(PreparedSplits data, ReverseSdEnsembleOptions options,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var tuned = new Dictionary<int, FineTunedBackbone>();
        using var activations = new Layer3ActivationCache(); // resnet18 and resnet18-grid members share their layer-3 activations
        for (int k = 0; k < options.Members.Count; k++)
        {
            if (options.Members[k].FineTuning.Mode == BackboneFineTuning.None) continue;
            string prefix = $"member {k + 1}/{options.Members.Count} ({options.Members[k].Backbone}): ";
            tuned[k] = PreparedFineTuning.Run(data, options.Members[k], ProgressStages.Prefixed(progress, prefix), cancellationToken, k, activations);
        }
        return tuned;
    }

    /// <summary>Checks the options of an ensemble before any work.</summary>
    internal static void Check(ReverseSdEnsembleOptions o)
    {
        if (o.Members is not { Count: > 0 }) throw new ReverseSdInputException("An ensemble needs at least one member backbone.");
        if (o.Members.Count > 16) throw new ReverseSdInputException($"An ensemble takes at most 16 members; got {o.Members.Count}.");
        if (o.Members.Any(m => m.FineTuning == null))
            throw new ReverseSdInputException("Every member's FineTuning options must be set (Mode = None for no fine-tuning).");
        if (!Enum.IsDefined(o.Combination)) throw new ReverseSdInputException($"Unknown ensemble combination {o.Combination}.");
        if (o.DaklCentroids < 1) throw new ReverseSdInputException($"DAKL's number of centroids r must be at least 1; got {o.DaklCentroids}.");
        if (!(o.DaklGamma > 0) || float.IsInfinity(o.DaklGamma)) throw new ReverseSdInputException($"DAKL's γ must be a positive finite number; got {o.DaklGamma}.");
        if (!(o.DaklAlpha > 0) || float.IsInfinity(o.DaklAlpha)) throw new ReverseSdInputException($"DAKL's α must be a positive finite number; got {o.DaklAlpha}.");
        if (!Enum.IsDefined(o.DaklSelection)) throw new ReverseSdInputException($"Unknown DAKL selection {o.DaklSelection}.");
        if (o.UseDakl && o.DaklSelection == DaklSelectionMode.Validation)
        {
            if (o.DaklGammaGrid is not { Count: > 0 } || o.DaklAlphaGrid is not { Count: > 0 })
                throw new ReverseSdInputException("DAKL's validation selection needs at least one γ and one α in its grids.");
            if (o.DaklGammaGrid.Concat(o.DaklAlphaGrid).Any(v => !(v > 0) || float.IsInfinity(v)))
                throw new ReverseSdInputException($"DAKL's γ and α grids take positive finite numbers; got γ {string.Join(",", o.DaklGammaGrid)} and α {string.Join(",", o.DaklAlphaGrid)}.");
        }
        if (o.KnnNeighbors < 0) throw new ReverseSdInputException($"The kNN baseline's k must be >= 0 (0 leaves it out); got {o.KnnNeighbors}.");
    }

    /// <summary>
    /// Combines the trained members: each member's predictions on the prepared splits, the pipeline's combiner fitted on them,
    /// its DAKL (when asked) on the ensemble embeddings with the target-domain images, the test evaluation, and the one chain
    /// that is saved.
    /// </summary>
    private static ReverseSdEnsembleTrainedModel Combine(ReverseSdPipeline pipeline, PreparedSplits data, IReadOnlyList<ReverseSdTrainedModel> members,
        (List<string> Good, int Skipped)? adaptTo, Retrieval.NearestPromptsEstimator? bank, IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var (ml, options) = (pipeline.MLContext, pipeline.Options);
        int m = members.Count;
        // Each member's predictions on the cached features (the same numbers its saved chain gives from the images).
        float[][][] Predict(PreparedSplit split) => Enumerable.Range(0, m).Select(k => PromptEmbeddingEvaluator.ReadVectors(
            members[k].Heads.Transform(split.FeaturesView(k)), options.Members[k].Heads.OutputColumnName).ToArray()).ToArray();
        var train = Predict(data.Train);
        var validation = data.Validation == null ? null : Predict(data.Validation);
        var test = Predict(data.Test!);
        int d = train[0][0].Length;

        // Target-domain images for DAKL: the validation and test images (features only) or another folder.
        float[][][] targetDomain;
        int targetDomainSkipped = 0;
        if (adaptTo is var (goodImages, skippedImages))
        {
            targetDomain = PredictImages(ml, members, goodImages, cancellationToken);
            targetDomainSkipped = skippedImages;
        }
        else
        {
            targetDomain = Enumerable.Range(0, m).Select(k => (validation?[k] ?? []).Concat(test[k]).ToArray()).ToArray();
        }

        string[] memberColumns = Enumerable.Range(1, m).Select(MemberColumnName).ToArray();
        VectorTableDataView MemberView(float[][][] member, float[][]? labels) => new(memberColumns
            .Select((c, k) => (c, d, member[k]))
            .Concat(labels == null ? [] : [(LabelColumn, d, labels)]).ToArray());
        var trainView = MemberView(train, data.Train.Targets);
        var validationView = validation == null ? null : MemberView(validation, data.Validation!.Targets);

        string ensembleColumn = options.UseDakl ? EnsembleColumn : OutputColumn;
        var combiner = pipeline.Combiner(validationView ?? trainView, LabelColumn).Fit(trainView);
        float[][] Ensemble(float[][][] member) => member[0].Length == 0 ? []
            : PromptEmbeddingEvaluator.ReadVectors(combiner.Transform(MemberView(member, null)), ensembleColumn).ToArray();
        var ensembleTest = Ensemble(test);

        DomainAdaptiveKernelTransformer? dakl = null;
        DaklSelectionResult? selection = null;
        float[][]? daklTest = null;
        try
        {
            if (options.UseDakl)
            {
                cancellationToken.ThrowIfCancellationRequested();
                // Features only: the target-domain view has no label column, so no prompt of it can reach the fit.
                var targetDomainView = new VectorTableDataView((EnsembleColumn, d, Ensemble(targetDomain)));
                var validationEnsemble = validation == null ? null
                    : new VectorTableDataView((EnsembleColumn, d, Ensemble(validation)), (LabelColumn, d, data.Validation!.Targets));
                dakl = pipeline.Dakl(validationEnsemble, targetDomainView, LabelColumn)
                    .Fit(new VectorTableDataView((EnsembleColumn, d, Ensemble(train)), (LabelColumn, d, data.Train.Targets)));
                selection = dakl.Selection;
                daklTest = VectorTableDataView.TransformRows(dakl, ensembleTest, EnsembleColumn, OutputColumn, d);
            }
            var (rows, report, final, baseline) = EnsembleReport.Evaluate(ml, options, data, members, combiner, dakl, selection,
                new EnsembleReport.TestPredictions(test, ensembleTest, daklTest), targetDomainSkipped);
            var used = selection is { Used: true } ? dakl : null;
            if (dakl != null && used == null) dakl.Dispose();
            var chain = pipeline.Assemble(members.Select(x => x.Model).ToList(), combiner, used,
                bank?.Fit(new VectorTableDataView((OutputColumn, d, []))));
            var ablationData = new EnsembleData(train, validation, test, targetDomain, data.Train.Targets, data.Validation?.Targets, data.Test!.Targets, d);
            return new ReverseSdEnsembleTrainedModel(ml, chain, members, data.Backbones.Select(b => b.Name).ToList(), combiner, used, selection, rows,
                report, final, baseline, data.Test.ImagePaths, ablationData, options);
        }
        catch
        {
            dakl?.Dispose();
            combiner.Dispose();
            throw;
        }
    }

    /// <summary>The readable images of a target-domain folder (checked before any training) and the count of unreadable ones.</summary>
    private static (List<string> Good, int Skipped) TargetDomainImages(string folder)
    {
        if (!Directory.Exists(folder))
            throw new ReverseSdInputException($"The target-domain folder '{folder}' (--adapt-to) does not exist.");
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(ImageFiles.HasImageExtension).Select(Path.GetFullPath).Order(StringComparer.Ordinal).ToList();
        var good = files.Where(f => ImageValidation.FindProblem(f) == null).ToList();
        if (good.Count == 0) throw new ReverseSdInputException($"The target-domain folder '{folder}' (--adapt-to) has no readable image.");
        return (good, files.Count - good.Count);
    }

    /// <summary>Each member's prediction on images, through its own backbone + heads chain.</summary>
    private static float[][][] PredictImages(MLContext ml, IReadOnlyList<ReverseSdTrainedModel> members, List<string> images,
        CancellationToken cancellationToken)
    {
        var result = new float[members.Count][][];
        for (int k = 0; k < members.Count; k++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var input = ml.Data.LoadFromEnumerable(images.Select(p => new ImagePathRow { ImagePath = p }).ToList());
            result[k] = PromptEmbeddingEvaluator.ReadVectors(members[k].Model.Transform(input), OutputColumn).ToArray();
        }
        return result;
    }

    private sealed class ImagePathRow
    {
        public string ImagePath { get; set; } = "";
    }

    private static float[][] Rows(float[] flat, int d) => Enumerable.Range(0, flat.Length / d).Select(i => flat.AsSpan(i * d, d).ToArray()).ToArray();
}
