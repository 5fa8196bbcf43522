using ReverseSD.MLNet.Onnx.Proto;

namespace ReverseSD.MLNet.Text;

/// <summary>
/// The arithmetic of one run of the sentence encoder, counted from its ONNX graph: the multiply-adds of the matrix
/// products with a weight (per word piece) and of the attention products (per word piece, times the padded length).
/// <c>bench text</c> turns them into achieved GFLOP/s beside a plain TorchSharp matrix product of the same kind (<see cref="PlainMatrixProduct"/>).
/// </summary>
/// <param name="WeightMultiplyAddsPerWordPiece">Σ K·N over the MatMul/Gemm nodes with a constant weight [K, N] that the output depends on.</param>
/// <param name="AttentionProducts">MatMul nodes of two activations (Q·Kᵀ and attention·V) that the output depends on.</param>
/// <param name="HiddenSize">Width of the hidden states (all heads together).</param>
internal sealed record EncoderArithmetic(long WeightMultiplyAddsPerWordPiece, int AttentionProducts, int HiddenSize)
{
    /// <summary>Counts the products of the graph in <paramref name="onnxModel"/> that its output <paramref name="outputName"/> depends on.</summary>
    public static EncoderArithmetic Count(byte[] onnxModel, string outputName, int hiddenSize)
    {
        var graph = ModelProto.Parser.ParseFrom(onnxModel).Graph;
        // Constant tensors and their element counts: initializers, Constant nodes, and a transposed, cast or reshaped constant.
        var weights = graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.Aggregate(1L, (a, b) => a * b), StringComparer.Ordinal);
        var producer = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (string output in node.Output) producer[output] = node;
            if (node.OpType == "Constant" && node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } tensor)
                weights[node.Output[0]] = tensor.Dims.Aggregate(1L, (a, b) => a * b);
            else if (node.OpType is "Transpose" or "Cast" or "Identity" or "Reshape" && node.Input.Count > 0 && weights.TryGetValue(node.Input[0], out long n))
                weights[node.Output[0]] = n;
        }

        // The nodes the output depends on (a pooler behind last_hidden_state is not among them).
        var needed = new HashSet<NodeProto>();
        var pending = new Stack<string>([outputName]);
        while (pending.Count > 0)
            if (producer.TryGetValue(pending.Pop(), out var node) && needed.Add(node))
                foreach (string input in node.Input) pending.Push(input);

        long perWordPiece = 0;
        int attention = 0;
        foreach (var node in needed.Where(n => n.OpType is "MatMul" or "Gemm"))
        {
            if (node.Input.Count > 1 && weights.TryGetValue(node.Input[1], out long elements))
                perWordPiece += elements;
            else if (node.OpType == "MatMul" && !node.Input.Any(weights.ContainsKey))
                attention++;
        }
        return new EncoderArithmetic(perWordPiece, attention, hiddenSize);
    }

    /// <summary>
    /// Floating-point operations (2 per multiply-add) of one batch of <paramref name="texts"/> padded to
    /// <paramref name="width"/> word pieces: the weight products on every padded word piece, and each attention product
    /// over width × width positions of hidden size.
    /// </summary>
    public double Flops(int texts, int width) =>
        2.0 * texts * width * (WeightMultiplyAddsPerWordPiece + (double)AttentionProducts * width * HiddenSize);
}
