using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using ReverseSD.MLNet.Onnx;

namespace ReverseSD.MLNet.Ensemble;

/// <summary>How the members' embeddings are combined (persisted values are explicit).</summary>
public enum EnsembleCombination
{
    /// <summary>Mean of the L2-normalised members (official code).</summary>
    Mean = 0,

    /// <summary>Weighted mean of the L2-normalised members, weights given or searched on validation data.</summary>
    WeightedMean = 1,

    /// <summary>Element-wise median of the L2-normalised members (paper Fig. 11); the mean of the two middle values for an even count.</summary>
    Median = 2,
}

/// <summary>Options of <see cref="EmbeddingEnsembleEstimator"/>.</summary>
public sealed class EmbeddingEnsembleOptions
{
    /// <summary>A copy, so that changing these options after an estimator is built changes nothing.</summary>
    internal EmbeddingEnsembleOptions Clone()
    {
        var copy = (EmbeddingEnsembleOptions)MemberwiseClone();
        copy.InputColumnNames = [.. InputColumnNames];
        copy.Weights = Weights?.ToArray();
        return copy;
    }

    /// <summary>One embedding column per member model, all of the same size.</summary>
    public string[] InputColumnNames { get; set; } = [];

    /// <summary>The combined, unit-norm embedding.</summary>
    public string OutputColumnName { get; set; } = ColumnNames.EnsembleEmbedding;

    /// <summary>The combination rule.</summary>
    public EnsembleCombination Combination { get; set; } = EnsembleCombination.Mean;

    /// <summary>
    /// Member weights for <see cref="EnsembleCombination.WeightedMean"/> (non-negative, normalised to sum 1); null searches them on
    /// <see cref="ValidationData"/> (or the data given to Fit) by coordinate search on the simplex maximising the mean cosine.
    /// </summary>
    public float[]? Weights { get; set; }

    /// <summary>Data with the members' predictions and the true embeddings for the weight search; null uses the data given to Fit.</summary>
    public IDataView? ValidationData { get; set; }

    /// <summary>The label of the weight search: the true embedding, or the prompt text (embedded at Fit; rows with an empty prompt left out).</summary>
    public string LabelColumnName { get; set; } = ColumnNames.PromptEmbedding;

    /// <summary>The prompt embeddings shared by the stages of one system Fit; null embeds a text label here.</summary>
    internal Text.PromptEmbeddingMemo? PromptEmbeddings { get; set; }
}

/// <summary>
/// Ensemble of several models' embeddings (paper §4.9): each member is L2-normalised, the members are combined by mean,
/// weighted mean or element-wise median, and the result is L2-normalised. Compiled to an ONNX graph.
/// </summary>
/// <remarks>
/// | Input | Output | Needs training data | GPU |
/// |---|---|---|---|
/// | m embedding columns | combined embedding | only to search weights (validation data with labels) | no |
/// </remarks>
public sealed class EmbeddingEnsembleEstimator : IEstimator<EmbeddingEnsembleTransformer>
{
    private readonly MLContext _mlContext;
    private readonly EmbeddingEnsembleOptions _options;

    internal EmbeddingEnsembleEstimator(MLContext mlContext, EmbeddingEnsembleOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        if (options.InputColumnNames is not { Length: > 0 } inputs || inputs.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("InputColumnNames needs at least one non-empty column name.", nameof(options));
        if (inputs.Distinct(StringComparer.Ordinal).Count() != inputs.Length)
            throw new ArgumentException("InputColumnNames has a repeated column name.", nameof(options));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.OutputColumnName, nameof(options.OutputColumnName));
        if (inputs.Contains(options.OutputColumnName, StringComparer.Ordinal))
            throw new ArgumentException($"OutputColumnName '{options.OutputColumnName}' must differ from the input columns (the compiled graph cannot overwrite its input).", nameof(options));
        if (!Enum.IsDefined(options.Combination))
            throw new ArgumentOutOfRangeException(nameof(options.Combination), options.Combination, "Unknown combination.");
        if (options.Weights != null)
        {
            if (options.Combination != EnsembleCombination.WeightedMean)
                throw new ArgumentException("Weights are only used by the WeightedMean combination.", nameof(options));
            EmbeddingCombiner.CheckWeights(options.Weights, inputs.Length, nameof(options.Weights));
        }
        else if (options.Combination == EnsembleCombination.WeightedMean)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(options.LabelColumnName, nameof(options.LabelColumnName));
        }
        _mlContext = mlContext;
        _options = options.Clone();
    }

    internal EmbeddingEnsembleOptions Options => _options;

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        foreach (string name in _options.InputColumnNames)
            InputColumns.RequireFloatVector(inputSchema, name, "input data (ensemble member)");
        return SchemaShapes.WithColumns(inputSchema, (_options.OutputColumnName, SchemaShapes.FloatVector));
    }

    /// <inheritdoc/>
    public EmbeddingEnsembleTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        int d = MemberSize(input.Schema, "input data");
        float[]? weights = null;
        EnsembleWeightSearch.Result? search = null;
        if (_options.Combination == EnsembleCombination.WeightedMean)
        {
            if (_options.Weights != null)
            {
                weights = EmbeddingCombiner.NormaliseWeights(_options.Weights);
            }
            else
            {
                var validation = _options.ValidationData ?? input;
                MemberSize(validation.Schema, "validation data");
                var members = _options.InputColumnNames.Select(c => EmbeddingMatrix.Read(validation, c, "validation data (ensemble member)")).ToArray();
                EmbeddingMatrix targets;
                if (validation.Schema.GetColumnOrNull(_options.LabelColumnName)?.Type is TextDataViewType)
                {
                    var prompts = validation.GetColumn<ReadOnlyMemory<char>>(_options.LabelColumnName).Select(t => t.ToString()).ToList();
                    var labelled = Enumerable.Range(0, prompts.Count).Where(i => prompts[i].Length > 0).ToArray();
                    if (labelled.Length == 0)
                        throw new ReverseSdInputException($"Every row of the validation data has an empty '{_options.LabelColumnName}': the weight search needs labelled rows.");
                    members = members.Select(m => EmbeddingMatrix.FromRows(labelled.Select(i => m.Row(i).ToArray()).ToList())).ToArray();
                    targets = EmbeddingMatrix.FromRows(Text.PromptEmbeddingMemo.Encode(_options.PromptEmbeddings, labelled.Select(i => prompts[i]).ToList(), null));
                }
                else
                {
                    targets = EmbeddingMatrix.Read(validation, _options.LabelColumnName, "validation data (label column)");
                }
                search = EnsembleWeightSearch.Run(members, targets);
                weights = search.Weights;
            }
        }
        byte[] onnx = Compile(_options.InputColumnNames, _options.OutputColumnName, d, _options.Combination, weights);
        var transformer = CompiledOnnxModel.Create(_mlContext, onnx, [_options.OutputColumnName], _options.InputColumnNames, input);
        return new EmbeddingEnsembleTransformer(transformer, _options.InputColumnNames.Select(c => (c, d)).ToArray(), _options.Combination, weights, search?.MeanCosine);
    }

    private int MemberSize(DataViewSchema schema, string role)
    {
        int d = InputColumns.RequireFloatVector(schema, _options.InputColumnNames[0], role + " (ensemble member)");
        foreach (string name in _options.InputColumnNames.Skip(1))
            InputColumns.RequireFloatVector(schema, name, d, role + $" (ensemble member; all members need the size of '{_options.InputColumnNames[0]}')");
        return d;
    }

    /// <summary>Builds the ensemble graph: L2-normalise each member, combine, L2-normalise.</summary>
    internal static byte[] Compile(string[] inputs, string output, int d, EnsembleCombination combination, float[]? weights)
    {
        var g = new OnnxGraphBuilder("embedding_ensemble");
        g.Metadata("reversesd.stage", "ensemble");
        g.Metadata("reversesd.format", "1");
        g.Metadata("reversesd.combination", combination.ToString());
        var members = inputs.Select(name => g.L2Normalize(g.Input(name, [-1, d]))).ToArray();
        string combined;
        switch (combination)
        {
            case EnsembleCombination.Mean:
                combined = members.Length == 1 ? members[0] : g.Node("Sum", members);
                break;
            case EnsembleCombination.WeightedMean:
                var scaled = members.Select((m, i) => g.Node("Mul", [m, g.Scalar(weights![i])])).ToArray();
                combined = scaled.Length == 1 ? scaled[0] : g.Node("Sum", scaled);
                break;
            default:
                // Median along the member axis with TopK (ReduceMedian is not in opset 17): stack [N, m, d], take the
                // ceil(m/2)+[even] largest, gather the middle one (odd m) or two (even m), and average them.
                int m = members.Length;
                string axis1 = g.Initializer("axis1", [1L], 1);
                var stacked = g.Node("Concat", members.Select(x => g.Node("Unsqueeze", [x, axis1])).ToArray(), null, OnnxGraphBuilder.Attr("axis", 1L));
                long k = m / 2 + 1;
                long[] middle = m % 2 == 1 ? [m / 2] : [m / 2 - 1, m / 2];
                string[] top = g.Nodes("TopK", [stacked, g.Initializer("k", [k], 1)], ["sorted_values", "sorted_indices"], OnnxGraphBuilder.Attr("axis", 1L));
                string mid = g.Node("Gather", [top[0], g.Initializer("middle", middle, middle.Length)], null, OnnxGraphBuilder.Attr("axis", 1L));
                combined = g.Node("ReduceMean", [mid], null, OnnxGraphBuilder.Attr("axes", [1L]), OnnxGraphBuilder.Attr("keepdims", 0L));
                break;
        }
        g.Output(g.L2Normalize(combined), output, [-1, d]);
        return g.ToBytes();
    }
}

/// <summary>A fitted <see cref="EmbeddingEnsembleEstimator"/>; scores through its compiled ONNX graph.</summary>
public sealed class EmbeddingEnsembleTransformer : CompiledOnnxTransformer
{
    private readonly float[]? _weights;

    internal EmbeddingEnsembleTransformer(OnnxTransformer onnx, (string Name, int Size)[] inputs, EnsembleCombination combination, float[]? weights, double? searchedMeanCosine)
        : base(onnx, inputs, "ensemble input")
    {
        Combination = combination;
        _weights = weights;
        SearchedMeanCosine = searchedMeanCosine;
    }

    /// <summary>The combination rule.</summary>
    public EnsembleCombination Combination { get; }

    /// <summary>The member weights (sum 1) of a weighted mean, otherwise empty.</summary>
    public IReadOnlyList<float> Weights => _weights ?? [];

    /// <summary>The validation mean cosine reached by the weight search, when the weights were searched.</summary>
    public double? SearchedMeanCosine { get; }

}
