using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using ReverseSD.MLNet.Onnx.Proto;

namespace ReverseSD.MLNet.Onnx;

/// <summary>
/// The arithmetic of one Conv, Gemm or MatMul node on one run, as the plain matrix product it amounts to: a convolution
/// is [positions × (in_c/group)·kh·kw] × [(in_c/group)·kh·kw × out_c] (im2col), so multiply-adds = rows · inner · columns.
/// </summary>
/// <param name="OpType">The node's operator.</param>
/// <param name="Output">The node's first output.</param>
/// <param name="Rows">Rows of the product: batch × output positions (Conv), M (Gemm), the leading output dimensions (MatMul).</param>
/// <param name="Inner">The summed dimension: (in_c/group)·kh·kw (Conv), K (Gemm, MatMul).</param>
/// <param name="Columns">Columns of the product: out_c (Conv), N (Gemm, MatMul).</param>
internal sealed record ProductNode(string OpType, string Output, long Rows, long Inner, long Columns)
{
    /// <summary>Multiply-adds of the node: rows · inner · columns.</summary>
    public long MultiplyAdds => Rows * Inner * Columns;
}

/// <summary>
/// The multiply-adds of one run of an ONNX graph, counted from the shapes its Conv, Gemm and MatMul nodes really see:
/// every such node's output (and weight, when it is not an initializer) becomes an extra graph output, and the graph runs
/// once on zeros of the given input shape, so any exported encoder is counted without a shape inference of our own.
/// Element-wise nodes (activations, normalisation, pooling, additions) are not counted, as in the published figures.
/// </summary>
internal sealed record GraphArithmetic(IReadOnlyList<ProductNode> Nodes)
{
    /// <summary>Multiply-adds of all the counted nodes.</summary>
    public long MultiplyAdds => Nodes.Sum(n => n.MultiplyAdds);

    /// <summary>
    /// Counts the products of <paramref name="onnxModel"/> run on one float input <paramref name="inputName"/> of shape
    /// <paramref name="inputShape"/> (e.g. [1, 3, 224, 224] for one image).
    /// </summary>
    public static GraphArithmetic Count(byte[] onnxModel, string inputName, long[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(onnxModel);
        ArgumentException.ThrowIfNullOrWhiteSpace(inputName);
        var model = ModelProto.Parser.ParseFrom(onnxModel);
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray(), StringComparer.Ordinal);
        var graphInputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var declared = graph.ValueInfo.Concat(graph.Output).GroupBy(v => v.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var products = graph.Node.Where(n => n.OpType is "Conv" or "Gemm" or "MatMul" && n.Input.Count >= 2 && n.Output.Count >= 1).ToList();

        // Every output and non-constant weight of a product becomes a graph output (float unless declared otherwise).
        var wanted = new List<string>();
        var alreadyOutput = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string name in products.SelectMany(n => new[] { n.Output[0], n.Input[1] }).Distinct(StringComparer.Ordinal))
        {
            if (initializers.ContainsKey(name) || graphInputs.Contains(name)) continue;
            wanted.Add(name);
            if (!alreadyOutput.Add(name)) continue;
            int type = declared.TryGetValue(name, out var info) && info.Type?.TensorType != null ? info.Type.TensorType.ElemType : (int)TensorProto.Types.DataType.Float;
            graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type } } });
        }

        var shapes = new Dictionary<string, long[]>(initializers, StringComparer.Ordinal) { [inputName] = inputShape };
        if (wanted.Count > 0)
        {
            using var options = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL,
                LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
                IntraOpNumThreads = 1,
            };
            using var session = new InferenceSession(model.ToByteArray(), options);
            long elements = inputShape.Aggregate(1L, (a, b) => a * b);
            using var input = OrtValue.CreateTensorValueFromMemory(new float[elements], inputShape);
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, [inputName], [input], wanted);
            for (int i = 0; i < wanted.Count; i++)
                shapes[wanted[i]] = results[i].GetTensorTypeAndShape().Shape;
        }

        var nodes = new List<ProductNode>(products.Count);
        foreach (var node in products)
        {
            if (!shapes.TryGetValue(node.Output[0], out long[]? output) || !shapes.TryGetValue(node.Input[1], out long[]? weight))
                throw new InvalidOperationException($"The shapes of node '{node.Name}' ({node.OpType}) were not found.");
            nodes.Add(Product(node, output, weight));
        }
        return new GraphArithmetic(nodes);
    }

    /// <summary>The matrix product a node amounts to, from its output shape and its second input's (the weight's) shape.</summary>
    internal static ProductNode Product(NodeProto node, long[] output, long[] weight)
    {
        long all = output.Aggregate(1L, (a, b) => a * b);
        switch (node.OpType)
        {
            case "Conv":
            {
                // Output [N, out_c, spatial...]; weight [out_c, in_c/group, kernel...].
                long columns = output[1];
                long inner = weight.Skip(1).Aggregate(1L, (a, b) => a * b);
                return new ProductNode(node.OpType, node.Output[0], all / columns, inner, columns);
            }
            case "Gemm":
            {
                // Output [M, N]; B [K, N], or [N, K] with transB.
                bool transB = node.Attribute.FirstOrDefault(a => a.Name == "transB")?.I == 1;
                return new ProductNode(node.OpType, node.Output[0], output[0], transB ? weight[1] : weight[0], output[1]);
            }
            default:
            {
                // MatMul, numpy rules: B [..., K, N] gives output [..., M, N]; a 1-d B [K] gives output [..., M].
                long inner = weight.Length == 1 ? weight[0] : weight[^2];
                long columns = weight.Length == 1 ? 1 : output[^1];
                return new ProductNode(node.OpType, node.Output[0], all / columns, inner, columns);
            }
        }
    }
}
