using Microsoft.ML;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>One row of the ensemble's test evaluation (paper Table 8 layout), with a paired t-test against the row above.</summary>
/// <param name="Name">What was evaluated.</param>
/// <param name="Metrics">Per-sample test cosines.</param>
/// <param name="VersusPrevious">Paired t-test of this row's cosines minus the previous row's; null for the first row.</param>
public sealed record EnsembleEvaluationRow(string Name, CosineMetrics Metrics, PairedTTestResult? VersusPrevious);

/// <summary>One combination of members (paper Table 9): its test mean cosine, and with DAKL refitted on that combination.</summary>
public sealed record EnsembleAblationResult(IReadOnlyList<string> Members, double MeanCosine, double? MeanCosineWithDakl);

/// <summary>
/// A trained ensemble: the members, the fitted combiner, optionally DAKL, the one chain saved as a zip ("ImagePath" →
/// "PredictedEmbedding"; "VocabularyProbabilities", "VocabularyWords" and "ModelInfo" come from the first member), and its test evaluation.
/// </summary>
public sealed class ReverseSdEnsembleTrainedModel : IDisposable
{
    private readonly MLContext _mlContext;
    private bool _disposed;

    internal ReverseSdEnsembleTrainedModel(MLContext mlContext, ITransformer model, IReadOnlyList<ReverseSdTrainedModel> members,
        IReadOnlyList<string> memberNames, EmbeddingEnsembleTransformer combiner, DomainAdaptiveKernelTransformer? dakl,
        DaklSelectionResult? daklSelection, IReadOnlyList<EnsembleEvaluationRow> rows, EvaluationReport report, CosineMetrics test, CosineMetrics baseline,
        IReadOnlyList<string> testImages, EnsembleData data, ReverseSdEnsembleOptions options)
    {
        _mlContext = mlContext;
        Model = model;
        Members = members;
        MemberNames = memberNames;
        Combiner = combiner;
        Dakl = dakl;
        DaklSelection = daklSelection;
        Rows = rows;
        Report = report;
        Test = test;
        Baseline = baseline;
        TestImages = testImages;
        Data = data;
        Options = options;
    }

    /// <summary>The whole fitted chain: every member's backbone and heads, the combiner, and DAKL when fitted.</summary>
    public ITransformer Model { get; }

    /// <summary>The trained members, in the order given.</summary>
    public IReadOnlyList<ReverseSdTrainedModel> Members { get; }

    /// <summary>The members' names (their backbones), in the order given.</summary>
    public IReadOnlyList<string> MemberNames { get; }

    /// <summary>The fitted combiner (its weights when a weighted mean).</summary>
    public EmbeddingEnsembleTransformer Combiner { get; }

    /// <summary>The fitted DAKL stage of the saved chain, or null (no DAKL asked, or it lost to the plain ensemble on validation).</summary>
    public DomainAdaptiveKernelTransformer? Dakl { get; }

    /// <summary>How DAKL's γ and α were chosen and whether DAKL is used; null without DAKL.</summary>
    public DaklSelectionResult? DaklSelection { get; }

    /// <summary>Test rows: each member, the ensemble, ensemble + DAKL, the kNN baseline and the mean-embedding baseline.</summary>
    public IReadOnlyList<EnsembleEvaluationRow> Rows { get; }

    /// <summary>The saved model's test evaluation (against the mean-embedding baseline) and the options used.</summary>
    public EvaluationReport Report { get; }

    /// <summary>Per-sample test cosines of the saved model (ensemble + DAKL when used, else the ensemble).</summary>
    public CosineMetrics Test { get; }

    /// <summary>Per-sample test cosines of the mean-embedding baseline.</summary>
    public CosineMetrics Baseline { get; }

    /// <summary>The test images, in the order of <see cref="Test"/>.</summary>
    public IReadOnlyList<string> TestImages { get; }

    internal EnsembleData Data { get; }

    internal ReverseSdEnsembleOptions Options { get; }

    /// <summary>
    /// Saves the whole chain into one zip as <c>mlContext.Model.Save</c> does (its ONNX graphs stored uncompressed, which a
    /// load reads faster), atomically.
    /// </summary>
    public void Save(string path) => ModelZip.Save(_mlContext, Model, ReverseSdModelFormat.ImageInputSchema(_mlContext), path);

    /// <summary>Disposes the members' and the ensemble stages' native sessions.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var member in Members) member.Dispose();
        Combiner.Dispose();
        Dakl?.Dispose();
    }
}

/// <summary>The members' predictions on every split, aligned by image, and the true embeddings where labels may be used.</summary>
internal sealed record EnsembleData(
    float[][][] Train, float[][][]? Validation, float[][][] Test, float[][][] TargetDomain,
    float[][] TrainTargets, float[][]? ValidationTargets, float[][] TestTargets, int EmbeddingSize);
