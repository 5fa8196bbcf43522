using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using ReverseSD.MLNet.Onnx;

namespace ReverseSD.MLNet.Heads;

/// <summary>
/// The fitted heads: an ONNX graph of the trained layers run by ML.NET's <see cref="OnnxTransformer"/>, to which
/// Transform, GetOutputSchema and Save delegate (so a saved model loads back as that OnnxTransformer).
/// Disposing it releases the ONNX Runtime session.
/// </summary>
public sealed class PromptEmbeddingHeadsTransformer : CompiledOnnxTransformer
{
    internal PromptEmbeddingHeadsTransformer(OnnxTransformer onnx, byte[] onnxModel, HeadConfiguration configuration,
        IReadOnlyList<string> vocabularyWords, IReadOnlyList<HeadsEpochSummary> epochs, int bestEpoch)
        : base(onnx, [], "heads input")
    {
        OnnxModel = onnxModel;
        Configuration = configuration;
        VocabularyWords = vocabularyWords;
        TrainingHistory = epochs;
        BestEpoch = bestEpoch;
    }

    /// <summary>The head configuration the model was trained with.</summary>
    public HeadConfiguration Configuration { get; }

    /// <summary>The vocabulary words, in the order of the "VocabularyProbabilities" slots (empty for vanilla).</summary>
    public IReadOnlyList<string> VocabularyWords { get; }

    /// <summary>One summary per training epoch.</summary>
    public IReadOnlyList<HeadsEpochSummary> TrainingHistory { get; }

    /// <summary>The 1-based epoch whose weights the model holds (best validation cosine, or the last epoch).</summary>
    public int BestEpoch { get; }

    /// <summary>The curriculum's difficulty scores, chunks and stages (paper §3); null when trained without a curriculum.</summary>
    public CurriculumResult? Curriculum { get; internal set; }

    /// <summary>Optimizer steps the (final) training ran.</summary>
    internal long TrainingSteps { get; init; }

    /// <summary>True when automatic epochs stopped training because the validation cosine stopped improving.</summary>
    public bool StoppedEarly { get; init; }

    /// <summary>The compiled ONNX graph.</summary>
    internal byte[] OnnxModel { get; }

}
