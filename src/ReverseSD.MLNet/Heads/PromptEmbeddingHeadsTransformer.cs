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
public sealed class PromptEmbeddingHeadsTransformer : ITransformer, IDisposable
{
    private readonly CompiledTransformer _compiled;

    internal PromptEmbeddingHeadsTransformer(OnnxTransformer onnx, byte[] onnxModel, HeadConfiguration configuration,
        IReadOnlyList<string> vocabularyWords, IReadOnlyList<HeadsEpochSummary> epochs, int bestEpoch)
    {
        _compiled = new CompiledTransformer(onnx, [], "heads input");
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
    public Curriculum.CurriculumResult? Curriculum { get; internal set; }

    /// <summary>Optimizer steps the (final) training ran.</summary>
    internal long TrainingSteps { get; init; }

    /// <summary>The compiled ONNX graph.</summary>
    internal byte[] OnnxModel { get; }

    /// <summary>True: the heads map rows one by one.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>Adds the prediction columns; throws when the feature column is missing or has the wrong size.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _compiled.GetOutputSchema(inputSchema);

    /// <summary>Returns a row-to-row mapper over <paramref name="inputSchema"/>.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _compiled.GetRowToRowMapper(inputSchema);

    /// <summary>Scores <paramref name="input"/> lazily.</summary>
    public IDataView Transform(IDataView input) => _compiled.Transform(input);

    /// <summary>Saves the wrapped OnnxTransformer (ML.NET's own format), so the model loads without this library.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _compiled.Save(ctx);

    /// <summary>Releases the ONNX Runtime session; idempotent.</summary>
    public void Dispose() => _compiled.Dispose();
}
