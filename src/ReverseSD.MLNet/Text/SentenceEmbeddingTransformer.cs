using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Text;

/// <summary>
/// Adds a unit-norm 384-d all-MiniLM-L6-v2 embedding column for a text column. Transform is lazy: rows are
/// encoded in batches while the result is cursored. Owns an ONNX Runtime session: dispose it.
/// </summary>
public sealed class SentenceEmbeddingTransformer : ITransformer, IDisposable
{
    private readonly SentenceEncoder _encoder;
    private bool _disposed;

    internal SentenceEmbeddingTransformer(SentenceEmbeddingEstimator.Options options)
    {
        OutputColumnName = options.OutputColumnName;
        InputColumnName = options.InputColumnName;
        _encoder = SentenceEncoder.Load(options.GpuDeviceId, options.BatchSize, options.Int8Weights);
    }

    /// <summary>Name of the added embedding column.</summary>
    public string OutputColumnName { get; }

    /// <summary>Name of the text column that is embedded.</summary>
    public string InputColumnName { get; }

    /// <summary>False: rows are encoded in batches, which a row-to-row mapper cannot do.</summary>
    public bool IsRowToRowMapper => false;

    /// <summary>The input schema plus the 384-d embedding column (it hides an input column of the same name).</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        InputColumns.RequireText(inputSchema, InputColumnName, SentenceEmbeddingEstimator.Role);
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        builder.AddColumn(OutputColumnName, new VectorDataViewType(NumberDataViewType.Single, SentenceEncoder.Dimension));
        return builder.ToSchema();
    }

    /// <summary>A lazily evaluated view of <paramref name="input"/> with the embedding column added.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new SentenceEmbeddingDataView(input, GetOutputSchema(input.Schema), _encoder, InputColumnName);
    }

    /// <summary>Not supported (<see cref="IsRowToRowMapper"/> is false).</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) =>
        throw new NotSupportedException("The sentence embedding transformer encodes rows in batches and has no row-to-row mapper; use Transform.");

    /// <summary>Always throws: the encoder is text-side preprocessing, not part of the saved image model.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) =>
        throw new NotSupportedException(
            "The sentence embedding transformer cannot be saved in an ML.NET model zip: it computes the training target " +
            "(the prompt embedding) from text and is not part of the image model. Save the image model alone " +
            "(fit the text side separately, or use the fitted image stages' transformer chain without EmbedSentences).");

    /// <summary>Releases the ONNX Runtime session; safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _encoder.Dispose();
    }
}
