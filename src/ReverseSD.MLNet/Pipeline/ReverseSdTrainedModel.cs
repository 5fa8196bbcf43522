using Microsoft.ML;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>A trained model: the fitted chain image path → backbone → heads, and its evaluation on the test split.</summary>
public sealed class ReverseSdTrainedModel : IDisposable
{
    private readonly MLContext _mlContext;

    internal ReverseSdTrainedModel(MLContext mlContext, ITransformer model, PromptEmbeddingHeadsTransformer heads, EvaluationReport report,
        CosineMetrics test, CosineMetrics baseline, IReadOnlyList<string> testImages)
    {
        _mlContext = mlContext;
        Model = model;
        Heads = heads;
        Report = report;
        Test = test;
        Baseline = baseline;
        TestImages = testImages;
    }

    /// <summary>The whole fitted chain: "ImagePath" → "PredictedEmbedding", "VocabularyProbabilities", "VocabularyWords", "ModelInfo".</summary>
    public ITransformer Model { get; }

    /// <summary>The fitted heads (training history, vocabulary).</summary>
    public PromptEmbeddingHeadsTransformer Heads { get; }

    /// <summary>Test-split evaluation and the options used.</summary>
    public EvaluationReport Report { get; }

    /// <summary>Per-sample test cosines of the model.</summary>
    public CosineMetrics Test { get; }

    /// <summary>Per-sample test cosines of the mean-embedding baseline.</summary>
    public CosineMetrics Baseline { get; }

    /// <summary>The test images, in the order of <see cref="Test"/>.</summary>
    public IReadOnlyList<string> TestImages { get; }

    /// <summary>The curriculum's difficulty of every training pair (paper §3), or null when trained without a curriculum.</summary>
    public Curriculum.DifficultyReport? Difficulty { get; internal init; }

    /// <summary>The same trained model saving <paramref name="model"/> (the chain with more stages, e.g. the prompt bank).</summary>
    internal ReverseSdTrainedModel WithModel(ITransformer model) =>
        new(_mlContext, model, Heads, Report, Test, Baseline, TestImages) { Difficulty = Difficulty };

    /// <summary>
    /// Saves the whole chain into one zip as <c>mlContext.Model.Save</c> does (its ONNX graphs stored uncompressed, which a
    /// load reads faster), atomically.
    /// </summary>
    public void Save(string path) => ModelZip.Save(_mlContext, Model, ReverseSdModelFormat.ImageInputSchema(_mlContext), path);

    /// <summary>Disposes the native sessions.</summary>
    public void Dispose()
    {
        (Model as IDisposable)?.Dispose();
        Heads.Dispose();
    }
}
