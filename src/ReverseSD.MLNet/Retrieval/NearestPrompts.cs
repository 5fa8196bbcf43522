using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Onnx;
using ReverseSD.MLNet.Onnx.Proto;

namespace ReverseSD.MLNet.Retrieval;

/// <summary>Options of <see cref="NearestPromptsEstimator"/>.</summary>
public sealed class NearestPromptsOptions
{
    /// <summary>The predicted embedding to look up.</summary>
    public string InputColumnName { get; set; } = ColumnNames.PredictedEmbedding;

    /// <summary>Output: the k nearest bank prompts, nearest first (text vector).</summary>
    public string PromptsColumnName { get; set; } = "NearestPrompts";

    /// <summary>Output: their cosine similarities to the input embedding.</summary>
    public string ScoresColumnName { get; set; } = "NearestPromptScores";

    /// <summary>Number of prompts returned; capped at the number of distinct bank prompts.</summary>
    public int NumberOfPrompts { get; set; } = 5;

    /// <summary>The prompt text column of the bank.</summary>
    public string BankPromptColumnName { get; set; } = ColumnNames.Prompt;

    /// <summary>The prompt embedding column of the bank.</summary>
    public string BankEmbeddingColumnName { get; set; } = ColumnNames.PromptEmbedding;
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
/// Repeated bank prompts are kept once (first occurrence).
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
        var text = promptBank.Schema.GetColumnOrNull(options.BankPromptColumnName);
        if (text is not { Type: TextDataViewType })
            throw new ReverseSdInputException($"The prompt bank has no text column '{options.BankPromptColumnName}'; set BankPromptColumnName.");
        InputColumns.RequireFloatVector(promptBank.Schema, options.BankEmbeddingColumnName, "prompt bank");
        _mlContext = mlContext;
        _bank = promptBank;
        _options = options;
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
        float[] bankT = NearestNeighborModel.Transpose(NearestNeighborModel.NormaliseRows(embeddings.Values, d), prompts.Count, d);
        string sims = g.Node("MatMul", [x, g.Initializer("bank_embeddings_t", bankT, d, prompts.Count)]);
        string[] top = g.Nodes("TopK", [sims, g.Initializer("k", [(long)k], 1)], ["top_scores", "top_indices"], OnnxGraphBuilder.Attr("axis", 1L));
        string texts = g.Node("Gather", [g.Initializer("bank_prompts", prompts, prompts.Count), top[1]], null, OnnxGraphBuilder.Attr("axis", 0L));
        g.Output(texts, _options.PromptsColumnName, [-1, k], TensorProto.Types.DataType.String);
        g.Output(top[0], _options.ScoresColumnName, [-1, k]);
        var onnx = CompiledOnnxModel.Create(_mlContext, g.ToBytes(), [_options.PromptsColumnName, _options.ScoresColumnName], [_options.InputColumnName], input);
        return new NearestPromptsTransformer(new CompiledTransformer(onnx, [(_options.InputColumnName, d)], "prompt retrieval input"), prompts.Count, k);
    }

    private (List<string> Prompts, EmbeddingMatrix Embeddings) ReadBank()
    {
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
}

/// <summary>A fitted <see cref="NearestPromptsEstimator"/>; scores through its compiled ONNX graph.</summary>
public sealed class NearestPromptsTransformer : ITransformer, IDisposable
{
    private readonly CompiledTransformer _compiled;

    internal NearestPromptsTransformer(CompiledTransformer compiled, int bankSize, int numberOfPrompts)
    {
        _compiled = compiled;
        BankSize = bankSize;
        NumberOfPrompts = numberOfPrompts;
    }

    /// <summary>Distinct prompts in the bank.</summary>
    public int BankSize { get; }

    /// <summary>Prompts returned per row.</summary>
    public int NumberOfPrompts { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _compiled.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _compiled.GetRowToRowMapper(inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => _compiled.Transform(input);

    void ICanSaveModel.Save(ModelSaveContext ctx) => _compiled.Save(ctx);

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose() => _compiled.Dispose();
}
