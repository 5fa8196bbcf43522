using System.Runtime.InteropServices;
using Google.Protobuf;
using ReverseSD.MLNet.Onnx.Proto;

namespace ReverseSD.MLNet.Text;

/// <summary>
/// The sentence encoder with int8 weights: every MatMul with a constant 2-D float weight becomes ONNX Runtime's
/// DynamicQuantizeMatMul (com.microsoft), its weight stored as int8 with one symmetric scale per output column and its
/// activations quantized to uint8 per call. The rest of the graph (embeddings, attention, layer norms) stays float32.
/// Faster on CPUs with int8 dot products (AVX-512 VNNI here), at the price of vectors a little off the float model's
/// (<c>bench text --int8</c> prints the cosine between the two).
/// </summary>
internal static class Int8EncoderWeights
{
    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>The graph of <paramref name="floatModel"/> with its constant MatMul weights in int8; the MatMuls rewritten.</summary>
    public static byte[] Quantize(byte[] floatModel, out int rewritten)
    {
        ArgumentNullException.ThrowIfNull(floatModel);
        var model = ModelProto.Parser.ParseFrom(floatModel);
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var quantized = new Dictionary<string, (string Weight, string Scale, string ZeroPoint)>(StringComparer.Ordinal);
        rewritten = 0;
        for (int i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (node.OpType != "MatMul" || node.Domain is not ("" or "ai.onnx") || node.Input.Count != 2
                || !initializers.TryGetValue(node.Input[1], out var weight) || weight.Dims.Count != 2
                || weight.DataType != (int)TensorProto.Types.DataType.Float)
                continue;
            if (!quantized.TryGetValue(weight.Name, out var names))
            {
                names = (weight.Name + "_int8", weight.Name + "_scale", weight.Name + "_zero_point");
                var (values, scales) = PerColumn(FloatValues(weight), (int)weight.Dims[0], (int)weight.Dims[1]);
                graph.Initializer.Add(Tensor(names.Weight, TensorProto.Types.DataType.Int8, MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), weight.Dims[0], weight.Dims[1]));
                graph.Initializer.Add(Tensor(names.Scale, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(scales.AsSpan()).ToArray(), weight.Dims[1]));
                graph.Initializer.Add(Tensor(names.ZeroPoint, TensorProto.Types.DataType.Int8, new byte[weight.Dims[1]], weight.Dims[1]));
                quantized[weight.Name] = names;
            }
            var replacement = new NodeProto { OpType = "DynamicQuantizeMatMul", Domain = MicrosoftDomain, Name = node.Name + "_int8" };
            replacement.Input.AddRange([node.Input[0], names.Weight, names.Scale, names.ZeroPoint]);
            replacement.Output.AddRange(node.Output);
            graph.Node[i] = replacement;
            rewritten++;
        }

        // A float weight no node reads any more is dropped.
        var read = graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (string name in quantized.Keys.Where(n => !read.Contains(n)))
            graph.Initializer.Remove(initializers[name]);
        if (!model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        return model.ToByteArray();
    }

    /// <summary>
    /// Symmetric int8 per output column of a [rows × columns] weight: scale = max |w| / 127 over the column, q = round(w / scale).
    /// </summary>
    internal static (sbyte[] Values, float[] Scales) PerColumn(float[] weight, int rows, int columns)
    {
        var scales = new float[columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                scales[c] = Math.Max(scales[c], Math.Abs(weight[r * columns + c]));
        for (int c = 0; c < columns; c++) scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;
        var values = new sbyte[weight.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                values[r * columns + c] = (sbyte)Math.Clamp(MathF.Round(weight[r * columns + c] / scales[c]), -127, 127);
        return (values, scales);
    }

    private static float[] FloatValues(TensorProto tensor) =>
        tensor.FloatData.Count > 0 ? [.. tensor.FloatData] : MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();

    private static TensorProto Tensor(string name, TensorProto.Types.DataType type, byte[] raw, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }
}
