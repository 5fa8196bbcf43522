using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Text;

/// <summary>
/// Embeds a text column with all-MiniLM-L6-v2 into a unit-norm 384-d vector column: the prompt embedding the
/// paper's models regress (Eq. 1). Reached with <c>mlContext.Transforms.Text.EmbedSentences(...)</c>.
/// </summary>
/// <remarks>
/// <list type="table">
/// <item><term>Input column</term><description>scalar <see cref="TextDataViewType"/> (default "Prompt")</description></item>
/// <item><term>Output column</term><description>vector of <see cref="float"/>, size 384, unit norm (default "PromptEmbedding")</description></item>
/// <item><term>Needs training data</term><description>no: Fit only checks the schema</description></item>
/// <item><term>GPU</term><description>optional, CUDA builds only (ReverseSdOnnxRuntime=cuda)</description></item>
/// <item><term>Saved in a model zip</term><description>no: it is text-side preprocessing, not part of the image model</description></item>
/// </list>
/// </remarks>
public sealed class SentenceEmbeddingEstimator : IEstimator<SentenceEmbeddingTransformer>
{
    /// <summary>Options of <see cref="SentenceEmbeddingEstimator"/>.</summary>
    public sealed class Options
    {
        /// <summary>Name of the 384-d embedding column to add.</summary>
        public string OutputColumnName { get; set; } = Defaults.OutputColumnName;

        /// <summary>Name of the text column to embed.</summary>
        public string InputColumnName { get; set; } = Defaults.InputColumnName;

        /// <summary>Texts encoded per ONNX Runtime call (rows are read ahead in blocks of this size).</summary>
        public int BatchSize { get; set; } = Defaults.BatchSize;

        /// <summary>CUDA device to run on (CUDA builds only); null runs on the CPU.</summary>
        public int? GpuDeviceId { get; set; }

        /// <summary>
        /// Runs the encoder with int8 weights: about twice as fast on CPUs with int8 dot products, its vectors a little off
        /// the float model's (cosine about 0.99), so not for training targets or a prompt bank's vectors.
        /// </summary>
        public bool Int8Weights { get; set; }
    }

    /// <summary>Default values of <see cref="Options"/>.</summary>
    public static class Defaults
    {
        /// <summary>The project's embedding column.</summary>
        public const string OutputColumnName = ColumnNames.PromptEmbedding;

        /// <summary>The project's prompt column.</summary>
        public const string InputColumnName = ColumnNames.Prompt;

        /// <summary>Texts per ONNX Runtime call.</summary>
        public const int BatchSize = SentenceEncoder.DefaultBatchSize;
    }

    internal const string Role = "sentence encoder (prompts to embed)";
    private readonly Options _options;

    /// <summary>Creates the estimator; the options are checked here (the message names the bad option).</summary>
    public SentenceEmbeddingEstimator(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.OutputColumnName))
            throw new ArgumentException("OutputColumnName must name a column.", nameof(options));
        if (string.IsNullOrWhiteSpace(options.InputColumnName))
            throw new ArgumentException("InputColumnName must name a column.", nameof(options));
        if (options.BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "BatchSize must be at least 1.");
        if (options.GpuDeviceId < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.GpuDeviceId, "GpuDeviceId must be 0 or more (or null for the CPU).");
        _options = new Options
        {
            OutputColumnName = options.OutputColumnName,
            InputColumnName = options.InputColumnName,
            BatchSize = options.BatchSize,
            GpuDeviceId = options.GpuDeviceId,
            Int8Weights = options.Int8Weights,
        };
    }

    /// <summary>The options this estimator was built with (a copy).</summary>
    internal Options Settings => _options;

    /// <summary>Checks the input schema and loads the encoder; no data is read.</summary>
    public SentenceEmbeddingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        InputColumns.RequireText(input.Schema, _options.InputColumnName, Role);
        return new SentenceEmbeddingTransformer(_options);
    }

    /// <summary>The input schema plus a 384-d float vector column; a missing or non-text input column is a <see cref="ReverseSdInputException"/>.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        InputColumns.RequireText(inputSchema, _options.InputColumnName, Role);
        return SchemaShapes.WithColumns(inputSchema, (_options.OutputColumnName, SchemaShapes.FloatVector));
    }
}
