using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using ReverseSD.MLNet.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Retrieval;

/// <summary>How the k nearest neighbours' target embeddings are weighted (persisted values are explicit).</summary>
public enum NeighborWeighting
{
    /// <summary>Every neighbour counts the same.</summary>
    Uniform = 0,

    /// <summary>Each neighbour is weighted by its cosine similarity to the query.</summary>
    Similarity = 1,

    /// <summary>Softmax of the cosine similarities divided by a temperature.</summary>
    Softmax = 2,
}

/// <summary>Options of <see cref="NearestNeighborRegressionEstimator"/>.</summary>
public sealed class NearestNeighborRegressionOptions
{
    /// <summary>A copy, so that changing these options after an estimator is built changes nothing.</summary>
    internal NearestNeighborRegressionOptions Clone() => (NearestNeighborRegressionOptions)MemberwiseClone();

    /// <summary>Defaults of the options.</summary>
    public static class Defaults
    {
        /// <summary>Number of neighbours.</summary>
        public const int NumberOfNeighbors = 10;

        /// <summary>Softmax temperature.</summary>
        public const float Temperature = 0.05f;
    }

    /// <summary>The feature space searched for neighbours (e.g. backbone image features).</summary>
    public string FeatureColumnName { get; set; } = ColumnNames.ImageFeatures;

    /// <summary>The target embedding of each training sample.</summary>
    public string LabelColumnName { get; set; } = ColumnNames.PromptEmbedding;

    /// <summary>The predicted (unit-norm) embedding.</summary>
    public string OutputColumnName { get; set; } = ColumnNames.PredictedEmbedding;

    /// <summary>Number of neighbours; capped at the number of training samples.</summary>
    public int NumberOfNeighbors { get; set; } = Defaults.NumberOfNeighbors;

    /// <summary>How the neighbours' targets are weighted.</summary>
    public NeighborWeighting Weighting { get; set; } = NeighborWeighting.Similarity;

    /// <summary>Softmax temperature (only for <see cref="NeighborWeighting.Softmax"/>).</summary>
    public float Temperature { get; set; } = Defaults.Temperature;
}

/// <summary>
/// kNN regression baseline (paper §4.10, "CLIP-Huge + k-NN"): the prediction is the weighted mean of the target embeddings of
/// the k training samples nearest by cosine in the feature space, L2-normalised. Exact search as matrix products.
/// </summary>
/// <remarks>
/// | Input | Output | Needs training data | GPU |
/// |---|---|---|---|
/// | feature vector, target embedding (fit) | predicted embedding | yes (memorised) | no |
/// The fitted model stores the normalised training features and targets as ONNX initializers
/// (normalise → MatMul → TopK → Gather → weighted sum → L2 normalise).
/// </remarks>
public sealed class NearestNeighborRegressionEstimator : IEstimator<NearestNeighborRegressionTransformer>
{
    private readonly MLContext _mlContext;
    private readonly NearestNeighborRegressionOptions _options;

    internal NearestNeighborRegressionEstimator(MLContext mlContext, NearestNeighborRegressionOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.FeatureColumnName, nameof(options.FeatureColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.LabelColumnName, nameof(options.LabelColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.OutputColumnName, nameof(options.OutputColumnName));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.NumberOfNeighbors, 1, nameof(options.NumberOfNeighbors));
        if (!(options.Temperature > 0) || float.IsInfinity(options.Temperature))
            throw new ArgumentOutOfRangeException(nameof(options.Temperature), options.Temperature, "The softmax temperature must be a positive finite number.");
        if (!Enum.IsDefined(options.Weighting))
            throw new ArgumentOutOfRangeException(nameof(options.Weighting), options.Weighting, "Unknown weighting.");
        _mlContext = mlContext;
        _options = options.Clone();
    }

    internal NearestNeighborRegressionOptions Options => _options;

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        InputColumns.RequireFloatVector(inputSchema, _options.FeatureColumnName, "input data (feature column)");
        InputColumns.RequireFloatVector(inputSchema, _options.LabelColumnName, "training data (label column)");
        return SchemaShapes.WithColumns(inputSchema, (_options.OutputColumnName, SchemaShapes.FloatVector));
    }

    /// <inheritdoc/>
    public NearestNeighborRegressionTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var features = EmbeddingMatrix.Read(input, _options.FeatureColumnName, "training data (feature column)");
        var targets = EmbeddingMatrix.Read(input, _options.LabelColumnName, "training data (label column)");
        var model = new NearestNeighborModel(features, targets, _options.NumberOfNeighbors, _options.Weighting, _options.Temperature);
        return new NearestNeighborRegressionTransformer(_mlContext, model, _options, input);
    }
}

/// <summary>A fitted <see cref="NearestNeighborRegressionEstimator"/>; scores through its compiled ONNX graph.</summary>
public sealed class NearestNeighborRegressionTransformer : CompiledOnnxTransformer
{
    internal NearestNeighborRegressionTransformer(MLContext ml, NearestNeighborModel model, NearestNeighborRegressionOptions options, IDataView schemaSource)
        : base(CompiledOnnxModel.Create(ml, model.Compile(options.FeatureColumnName, options.OutputColumnName), [options.OutputColumnName], [options.FeatureColumnName], schemaSource),
            [(options.FeatureColumnName, model.FeatureSize)], "kNN regression input")
    {
        Model = model;
    }

    internal NearestNeighborModel Model { get; }

    /// <summary>The number of neighbours actually used (the option capped at the training set size).</summary>
    public int NumberOfNeighbors => Model.K;

}

/// <summary>The memorised training set of the kNN regressor, with a TorchSharp evaluator and the ONNX compiler.</summary>
internal sealed class NearestNeighborModel
{
    private readonly float[] _normalisedFeatures;   // n × d
    private readonly float[] _targets;              // n × t

    public NearestNeighborModel(EmbeddingMatrix features, EmbeddingMatrix targets, int k, NeighborWeighting weighting, float temperature)
    {
        if (features.Rows != targets.Rows)
            throw new ReverseSdInputException($"The training data has {features.Rows} feature rows but {targets.Rows} label rows.");
        Count = features.Rows;
        FeatureSize = features.Columns;
        TargetSize = targets.Columns;
        K = Math.Min(k, Count);
        Weighting = weighting;
        Temperature = temperature;
        _normalisedFeatures = EmbeddingMatrix.NormaliseRows(features.Values, FeatureSize);
        _targets = (float[])targets.Values.Clone();
    }

    public int Count { get; }
    public int FeatureSize { get; }
    public int TargetSize { get; }
    public int K { get; }
    public NeighborWeighting Weighting { get; }
    public float Temperature { get; }

    /// <summary>Predicts with TorchSharp (batched exact search), for evaluation at fit time.</summary>
    public float[] Predict(EmbeddingMatrix queries, int batchSize = 4096)
    {
        if (queries.Columns != FeatureSize)
            throw new ReverseSdInputException($"The queries have {queries.Columns} features; the model was fitted on {FeatureSize}.");
        var result = new float[queries.Rows * TargetSize];
        using var outer = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var bankT = torch.tensor(_normalisedFeatures, [Count, FeatureSize]).t();
        var targets = torch.tensor(_targets, [Count, TargetSize]);
        for (int start = 0; start < queries.Rows; start += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            int rows = Math.Min(batchSize, queries.Rows - start);
            var q = torch.tensor(queries.Values.AsSpan(start * FeatureSize, rows * FeatureSize).ToArray(), [rows, FeatureSize]);
            q = nn.functional.normalize(q, p: 2, dim: 1);
            var (values, indices) = q.mm(bankT).topk(K, dim: 1);
            var neighbours = targets.index_select(0, indices.flatten()).reshape(rows, K, TargetSize);
            var weights = Weighting switch
            {
                NeighborWeighting.Uniform => torch.ones_like(values),
                NeighborWeighting.Similarity => values,
                _ => torch.softmax(values / Temperature, dim: 1),
            };
            var y = (neighbours * weights.unsqueeze(2)).sum(1);
            y = nn.functional.normalize(y, p: 2, dim: 1);
            y.data<float>().CopyTo(result.AsSpan(start * TargetSize, rows * TargetSize));
        }
        return result;
    }

    /// <summary>Compiles the search and the weighted mean into an ONNX graph.</summary>
    public byte[] Compile(string inputName, string outputName)
    {
        var g = new OnnxGraphBuilder("knn_regression");
        g.Metadata("reversesd.stage", "knn-regression");
        g.Metadata("reversesd.format", "1");
        string x = g.L2Normalize(g.Input(inputName, [-1, FeatureSize]));
        string bankT = g.Initializer("bank_features_t", EmbeddingMatrix.Transpose(_normalisedFeatures, Count, FeatureSize), FeatureSize, Count);
        string sims = g.Node("MatMul", [x, bankT]);
        string[] top = g.Nodes("TopK", [sims, g.Initializer("k", [(long)K], 1)], ["knn_values", "knn_indices"], OnnxGraphBuilder.Attr("axis", 1L));
        string targets = g.Initializer("bank_targets", _targets, Count, TargetSize);
        string gathered = g.Node("Gather", [targets, top[1]], null, OnnxGraphBuilder.Attr("axis", 0L));   // [N, k, t]
        string axis1 = g.Initializer("axis1", [1L], 1);
        string summed;
        if (Weighting == NeighborWeighting.Uniform)
        {
            summed = g.Node("ReduceSum", [gathered, axis1], null, OnnxGraphBuilder.Attr("keepdims", 0L));
        }
        else
        {
            string w = Weighting == NeighborWeighting.Similarity
                ? top[0]
                : g.Node("Softmax", [g.Node("Mul", [top[0], g.Scalar(1f / Temperature)])], null, OnnxGraphBuilder.Attr("axis", 1L));
            string w3 = g.Node("Unsqueeze", [w, g.Initializer("axis2", [2L], 1)]);
            summed = g.Node("ReduceSum", [g.Node("Mul", [gathered, w3]), axis1], null, OnnxGraphBuilder.Attr("keepdims", 0L));
        }
        g.Output(g.L2Normalize(summed), outputName, [-1, TargetSize]);
        return g.ToBytes();
    }
}
