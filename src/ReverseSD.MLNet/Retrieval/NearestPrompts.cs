using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using ReverseSD.MLNet.Onnx;
using ReverseSD.MLNet.Onnx.Proto;

namespace ReverseSD.MLNet.Retrieval;

/// <summary>Options of <see cref="NearestPromptsEstimator"/>.</summary>
public sealed class NearestPromptsOptions
{
    /// <summary>A copy, so that changing these options after an estimator is built changes nothing.</summary>
    internal NearestPromptsOptions Clone() => (NearestPromptsOptions)MemberwiseClone();

    /// <summary>Defaults of the options.</summary>
    public static class Defaults
    {
        /// <summary>Prompts returned per row.</summary>
        public const int NumberOfPrompts = 5;

        /// <summary>Output column of the nearest prompts.</summary>
        public const string PromptsColumnName = "NearestPrompts";

        /// <summary>Output column of their cosine similarities.</summary>
        public const string ScoresColumnName = "NearestPromptScores";
    }

    /// <summary>The predicted embedding to look up.</summary>
    public string InputColumnName { get; set; } = ColumnNames.PredictedEmbedding;

    /// <summary>Output: the k nearest bank prompts, nearest first (text vector).</summary>
    public string PromptsColumnName { get; set; } = Defaults.PromptsColumnName;

    /// <summary>Output: their cosine similarities to the input embedding.</summary>
    public string ScoresColumnName { get; set; } = Defaults.ScoresColumnName;

    /// <summary>Number of prompts returned; capped at the number of distinct bank prompts.</summary>
    public int NumberOfPrompts { get; set; } = Defaults.NumberOfPrompts;

    /// <summary>The prompt text column of the bank.</summary>
    public string BankPromptColumnName { get; set; } = ColumnNames.Prompt;

    /// <summary>The prompt embedding column of the bank; a bank without it has its prompts embedded with all-MiniLM-L6-v2 at Fit.</summary>
    public string BankEmbeddingColumnName { get; set; } = ColumnNames.PromptEmbedding;

    /// <summary>The prompt embeddings shared by the stages of one system Fit; null embeds a text-only bank here.</summary>
    internal Text.PromptEmbeddingMemo? PromptEmbeddings { get; set; }
}

/// <summary>
/// Prompt bank retrieval: for a predicted embedding, the k bank prompts with the highest cosine similarity and those cosines.
/// The bank (prompts + their sentence embeddings) is stored in the compiled ONNX graph (normalise → MatMul → TopK → Gather on
/// a string initializer), so the saved model returns prompt text by itself.
/// </summary>
/// <remarks>
/// | Input | Output | Needs training data | GPU |
/// |---|---|---|---|
/// | predicted embedding | prompts (text vector k), scores (float vector k) | the bank, given to the constructor | no |
/// Repeated bank prompts are kept once (first occurrence); a bank of text only (e.g. the training data) is embedded at Fit,
/// its empty prompts left out.
/// </remarks>
public sealed class NearestPromptsEstimator : IEstimator<NearestPromptsTransformer>
{
    private readonly MLContext _mlContext;
    private readonly IDataView _bank;
    private readonly NearestPromptsOptions _options;

    internal NearestPromptsEstimator(MLContext mlContext, IDataView promptBank, NearestPromptsOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(promptBank);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.InputColumnName, nameof(options.InputColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.PromptsColumnName, nameof(options.PromptsColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.ScoresColumnName, nameof(options.ScoresColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.BankPromptColumnName, nameof(options.BankPromptColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.BankEmbeddingColumnName, nameof(options.BankEmbeddingColumnName));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.NumberOfPrompts, 1, nameof(options.NumberOfPrompts));
        if (options.PromptsColumnName == options.ScoresColumnName)
            throw new ArgumentException("The prompts and scores output columns need different names.", nameof(options));
        InputColumns.RequireText(promptBank.Schema, options.BankPromptColumnName, "prompt bank");
        if (promptBank.Schema.GetColumnOrNull(options.BankEmbeddingColumnName) != null)
            InputColumns.RequireFloatVector(promptBank.Schema, options.BankEmbeddingColumnName, "prompt bank");
        _mlContext = mlContext;
        _bank = promptBank;
        _options = options.Clone();
    }

    internal NearestPromptsOptions Options => _options;

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        InputColumns.RequireFloatVector(inputSchema, _options.InputColumnName, "input data");
        return SchemaShapes.WithColumns(inputSchema,
            (_options.PromptsColumnName, new VectorDataViewType(TextDataViewType.Instance, 1)),
            (_options.ScoresColumnName, SchemaShapes.FloatVector));
    }

    /// <inheritdoc/>
    public NearestPromptsTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (prompts, embeddings) = ReadBank();
        int d = embeddings.Columns;
        InputColumns.RequireFloatVector(input.Schema, _options.InputColumnName, d, "input data (must match the bank's embedding size)");
        int k = Math.Min(_options.NumberOfPrompts, prompts.Count);

        var g = new OnnxGraphBuilder("nearest_prompts");
        g.Metadata("reversesd.stage", "nearest-prompts");
        g.Metadata("reversesd.format", "1");
        string x = g.L2Normalize(g.Input(_options.InputColumnName, [-1, d]));
        float[] bankT = EmbeddingMatrix.Transpose(EmbeddingMatrix.NormaliseRows(embeddings.Values, d), prompts.Count, d);
        string sims = g.Node("MatMul", [x, g.Initializer("bank_embeddings_t", bankT, d, prompts.Count)]);
        string[] top = g.Nodes("TopK", [sims, g.Initializer("k", [(long)k], 1)], ["top_scores", "top_indices"], OnnxGraphBuilder.Attr("axis", 1L));
        string texts = g.Node("Gather", [g.Initializer("bank_prompts", prompts, prompts.Count), top[1]], null, OnnxGraphBuilder.Attr("axis", 0L));
        g.Output(texts, _options.PromptsColumnName, [-1, k], TensorProto.Types.DataType.String);
        g.Output(top[0], _options.ScoresColumnName, [-1, k]);
        var onnx = CompiledOnnxModel.Create(_mlContext, g.ToBytes(), [_options.PromptsColumnName, _options.ScoresColumnName], [_options.InputColumnName], input);
        return new NearestPromptsTransformer(onnx, [(_options.InputColumnName, d)], prompts.Count, k);
    }

    private (List<string> Prompts, EmbeddingMatrix Embeddings) ReadBank()
    {
        if (_bank.Schema.GetColumnOrNull(_options.BankEmbeddingColumnName) == null)
            return EmbedBank();
        var embeddings = EmbeddingMatrix.Read(_bank, _options.BankEmbeddingColumnName, "prompt bank");
        var column = _bank.Schema[_options.BankPromptColumnName];
        var prompts = new List<string>();
        var keep = new List<float>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var cursor = _bank.GetRowCursor([column]);
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(column);
        ReadOnlyMemory<char> value = default;
        int row = 0;
        while (cursor.MoveNext())
        {
            getter(ref value);
            string prompt = value.ToString();
            if (seen.Add(prompt))
            {
                prompts.Add(prompt);
                keep.AddRange(embeddings.Row(row));
            }
            row++;
        }
        return (prompts, new EmbeddingMatrix(keep.ToArray(), prompts.Count, embeddings.Columns));
    }

    /// <summary>A bank of prompt text only (e.g. the training data): its distinct non-empty prompts, embedded here.</summary>
    private (List<string> Prompts, EmbeddingMatrix Embeddings) EmbedBank()
    {
        var prompts = _bank.GetColumn<ReadOnlyMemory<char>>(_options.BankPromptColumnName).Select(t => t.ToString())
            .Where(p => p.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        if (prompts.Count == 0)
            throw new ReverseSdInputException($"The prompt bank's column '{_options.BankPromptColumnName}' holds no non-empty prompt.");
        return (prompts, EmbeddingMatrix.FromRows(Text.PromptEmbeddingMemo.Encode(_options.PromptEmbeddings, prompts, null)));
    }
}

/// <summary>A fitted <see cref="NearestPromptsEstimator"/>; scores through its compiled ONNX graph.</summary>
public sealed class NearestPromptsTransformer : CompiledOnnxTransformer
{
    internal NearestPromptsTransformer(OnnxTransformer onnx, (string Name, int Size)[] inputs, int bankSize, int numberOfPrompts)
        : base(onnx, inputs, "prompt retrieval input")
    {
        BankSize = bankSize;
        NumberOfPrompts = numberOfPrompts;
    }

    /// <summary>Distinct prompts in the bank.</summary>
    public int BankSize { get; }

    /// <summary>Prompts returned per row.</summary>
    public int NumberOfPrompts { get; }

}
