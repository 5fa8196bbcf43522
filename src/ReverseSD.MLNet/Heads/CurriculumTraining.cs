using Microsoft.ML;
using ReverseSD.MLNet.Curriculum;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Heads;

/// <summary>
/// The two phases of the paper's curriculum (§3) on the heads trainer. Phase 1 trains the chosen model the ordinary way for
/// E epochs, recording each training pair's cosine after every epoch, and scores difficulty. Phase 2 resets the model
/// (a fresh initialisation from the same seed) and trains it for exactly the steps the ordinary run takes
/// (NumberOfEpochs × batches per pass over all pairs) on growing prefixes: easy, easy+medium, all.
/// Model selection is the ordinary rule over the whole of phase 2: after every pass over the current stage's pairs the
/// validation mean cosine is measured and the best pass's weights are kept (the last pass without validation data).
/// Callers hold <see cref="TorchRandom.Gate"/>.
/// </summary>
internal static class CurriculumTraining
{
    public const string ScoringStage = "curriculum 1/2: scoring difficulty";
    public const string TrainingStageName = "curriculum 2/2: easy → all";

    public static PromptEmbeddingHeadsTransformer Fit(MLContext ml, PromptEmbeddingHeadsTrainer.Options options,
        int featureSize, int embeddingSize, int vocabularySize, Device device, HeadsTensors train, HeadsTensors? validation,
        IReadOnlyList<string> words, IReadOnlyList<float>? frequencies, IDataView schemaSource, IProgress<ProgressReport>? progress,
        CancellationToken cancellationToken)
    {
        var scored = ScoreDifficulty(options, featureSize, embeddingSize, vocabularySize, device, train, validation, progress, cancellationToken);
        long totalSteps = VanillaSteps(train.Count, options);
        var stages = CurriculumSchedule.GrowingPrefixes(scored.Chunks, checked((int)totalSteps), options.Curriculum.StageFractions);

        // Reset: a fresh network from the same seed, so phase 2 depends on phase 1 only through the schedule.
        using var network = PromptEmbeddingHeadsTrainer.CreateNetwork(options, featureSize, embeddingSize, vocabularySize, device);
        var result = HeadsTrainingLoop.Run(network, PromptEmbeddingHeadsTrainer.LoopSettings(options), train, validation,
            stages.Select(s => new TrainingStage(s.Indices, Steps: s.Steps)).ToList(),
            progress: Relabel(progress, TrainingStageName), cancellationToken: cancellationToken);
        var model = PromptEmbeddingHeadsTrainer.Compile(ml, network, words, frequencies, options, schemaSource, result);
        model.Curriculum = new CurriculumResult
        {
            Difficulty = scored.Difficulty, Chunks = scored.Chunks, EasyMax = scored.EasyMax, MediumMax = scored.MediumMax,
            PreliminaryHistory = scored.PreliminaryHistory, Stages = stages,
        };
        return model;
    }

    /// <summary>
    /// Phase 1: an ordinary run of E epochs from the seeded initialisation; difficulty = 1 − (weighted) mean cosine
    /// (out of fold: K such runs, each scoring the fold it did not train on).
    /// </summary>
    public static CurriculumResult ScoreDifficulty(PromptEmbeddingHeadsTrainer.Options options,
        int featureSize, int embeddingSize, int vocabularySize, Device device, HeadsTensors train, HeadsTensors? validation,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var curriculum = options.Curriculum;
        if (curriculum.Weighting == DifficultyWeighting.ImprovingEpochsWeighted && validation == null)
            throw new ReverseSdInputException(
                "The official difficulty weighting counts only epochs that improved the validation cosine: it needs validation data (or use the mean weighting).");
        int epochs = curriculum.PreliminaryEpochs ?? options.NumberOfEpochs;
        if (curriculum.Scoring == DifficultyScoring.OutOfFold)
            return ScoreOutOfFold(options, epochs, featureSize, embeddingSize, vocabularySize, device, train, validation, progress, cancellationToken);
        using var network = PromptEmbeddingHeadsTrainer.CreateNetwork(options, featureSize, embeddingSize, vocabularySize, device);
        var result = HeadsTrainingLoop.Run(network, PromptEmbeddingHeadsTrainer.LoopSettings(options), train, validation,
            [new TrainingStage(Enumerable.Range(0, train.Count).ToArray(), Epochs: epochs)], recordSampleCosines: true,
            progress: Relabel(progress, ScoringStage), cancellationToken: cancellationToken);
        var difficulty = DifficultyScorer.Score(result.TrainingSampleCosines!, curriculum.Weighting,
            validation == null ? null : result.Epochs.Select(e => e.ValidationMeanCosine).ToList());
        var (chunks, easyMax, mediumMax) = curriculum.Split(difficulty);
        return new CurriculumResult
        {
            Difficulty = difficulty, Chunks = chunks, EasyMax = easyMax, MediumMax = mediumMax, PreliminaryHistory = result.Epochs,
        };
    }

    /// <summary>
    /// Out-of-fold scoring: the pairs are dealt into K folds in a seeded random order; for each fold a fresh network (same seeded
    /// initialisation) trains E epochs on the other folds, and the fold's pairs get their difficulty from that network's cosines on
    /// them after every epoch, weighted as in-sample scoring weights them. No pair is scored by a model that saw it.
    /// The preliminary history lists every fold's epochs, <see cref="HeadsEpochSummary.Stage"/> = fold index.
    /// </summary>
    private static CurriculumResult ScoreOutOfFold(PromptEmbeddingHeadsTrainer.Options options, int epochs,
        int featureSize, int embeddingSize, int vocabularySize, Device device, HeadsTensors train, HeadsTensors? validation,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var curriculum = options.Curriculum;
        int folds = curriculum.Folds;
        if (train.Count < 2 * folds)
            throw new ReverseSdInputException(
                $"Out-of-fold difficulty with {folds} folds needs at least {2 * folds} training pairs (two per fold); got {train.Count}. Use fewer folds (--folds) or in-sample scoring.");
        var foldOf = FoldAssignment(train.Count, folds, options.Seed);
        var difficulty = new double[train.Count];
        var history = new List<HeadsEpochSummary>();
        for (int fold = 0; fold < folds; fold++)
        {
            int[] heldOut = Enumerable.Range(0, train.Count).Where(i => foldOf[i] == fold).ToArray();
            int[] rest = Enumerable.Range(0, train.Count).Where(i => foldOf[i] != fold).ToArray();
            using var network = PromptEmbeddingHeadsTrainer.CreateNetwork(options, featureSize, embeddingSize, vocabularySize, device);
            var result = HeadsTrainingLoop.Run(network, PromptEmbeddingHeadsTrainer.LoopSettings(options), train, validation,
                [new TrainingStage(rest, Epochs: epochs)], recordSampleCosines: true,
                progress: Relabel(progress, $"{ScoringStage} (fold {fold + 1}/{folds})"), cancellationToken: cancellationToken);
            var heldOutCosines = result.TrainingSampleCosines!.Select(all => heldOut.Select(i => all[i]).ToArray()).ToList();
            var scores = DifficultyScorer.Score(heldOutCosines, curriculum.Weighting,
                validation == null ? null : result.Epochs.Select(e => e.ValidationMeanCosine).ToList());
            for (int k = 0; k < heldOut.Length; k++) difficulty[heldOut[k]] = scores[k];
            history.AddRange(result.Epochs.Select(e => e with { Stage = fold }));
        }
        var (chunks, easyMax, mediumMax) = curriculum.Split(difficulty);
        return new CurriculumResult
        {
            Difficulty = difficulty, Chunks = chunks, EasyMax = easyMax, MediumMax = mediumMax, PreliminaryHistory = history,
        };
    }

    /// <summary>The fold (0..<paramref name="folds"/>−1) of each of <paramref name="count"/> pairs: a seeded shuffle dealt round robin (sizes differ by at most one).</summary>
    internal static int[] FoldAssignment(int count, int folds, int seed)
    {
        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        var foldOf = new int[count];
        for (int position = 0; position < count; position++) foldOf[order[position]] = position % folds;
        return foldOf;
    }

    /// <summary>Steps of the ordinary run: epochs × batches per pass over all <paramref name="count"/> training rows.</summary>
    public static long VanillaSteps(int count, PromptEmbeddingHeadsTrainer.Options options) =>
        (long)options.NumberOfEpochs * HeadsTrainingLoop.BatchesPerPass(count, options.BatchSize);

    private static IProgress<ProgressReport>? Relabel(IProgress<ProgressReport>? progress, string stage) =>
        progress == null ? null : new RelabelledProgress(progress, stage);

    private sealed class RelabelledProgress(IProgress<ProgressReport> inner, string stage) : IProgress<ProgressReport>
    {
        public void Report(ProgressReport value) => inner.Report(value with { Stage = stage });
    }
}

/// <summary>
/// What the curriculum measured and did: every training pair's difficulty (1 − mean cosine over the preliminary epochs,
/// in training-row order), the chunks, the thresholds, the preliminary run's history and the stages of the second phase.
/// </summary>
public sealed class CurriculumResult
{
    /// <summary>Difficulty of each training row, in the order of the training data.</summary>
    public required IReadOnlyList<double> Difficulty { get; init; }

    /// <summary>Easy, medium and hard row indices, easiest first.</summary>
    public required CurriculumChunks Chunks { get; init; }

    /// <summary>Largest difficulty of the easy chunk (the first threshold).</summary>
    public required double EasyMax { get; init; }

    /// <summary>Largest difficulty of the medium chunk (the second threshold).</summary>
    public required double MediumMax { get; init; }

    /// <summary>Epoch summaries of the preliminary (scoring) run.</summary>
    public required IReadOnlyList<HeadsEpochSummary> PreliminaryHistory { get; init; }

    /// <summary>The stages of the second phase (empty when only the difficulty was scored).</summary>
    public IReadOnlyList<CurriculumStage> Stages { get; init; } = [];
}
