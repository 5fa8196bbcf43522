using Google.Protobuf;
using ReverseSD.MLNet.Onnx.Proto;

namespace ReverseSD.MLNet.Onnx;

/// <summary>
/// Builds a small ONNX graph (opset 17) with the trained weights as initializers, the way every
/// trainable stage of this library compiles its fitted computation (ARCHITECTURE.md, "What a model zip holds").
/// </summary>
internal sealed class OnnxGraphBuilder
{
    /// <summary>The default ONNX operator set of the graphs this library writes.</summary>
    public const int Opset = 17;

    private readonly GraphProto _graph;
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);
    private int _counter;

    public OnnxGraphBuilder(string graphName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(graphName);
        _graph = new GraphProto { Name = graphName };
    }

    /// <summary>Declares a float (or other) input; a dimension of -1 is dynamic (named "N" for the first).</summary>
    public string Input(string name, long[] dims, TensorProto.Types.DataType type = TensorProto.Types.DataType.Float)
    {
        _graph.Input.Add(ValueInfo(name, dims, type));
        return name;
    }

    /// <summary>Declares a graph output produced by an earlier node (Identity-renamed when needed).</summary>
    public void Output(string producedName, string outputName, long[] dims, TensorProto.Types.DataType type = TensorProto.Types.DataType.Float)
    {
        if (producedName != outputName)
            Node("Identity", [producedName], outputName);
        _graph.Output.Add(ValueInfo(outputName, dims, type));
    }

    /// <summary>Adds a float initializer in row-major order and returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        CheckCount(name, values.Length, dims);
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        var bytes = new byte[values.Length * sizeof(float)];
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).CopyTo(bytes);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian.");
        tensor.RawData = ByteString.CopyFrom(bytes);
        _graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>Adds an int64 initializer (shapes, axes, indices) and returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<long> values, params long[] dims)
    {
        CheckCount(name, values.Length, dims);
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.AddRange(dims);
        foreach (long v in values) tensor.Int64Data.Add(v);
        _graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>Adds a string initializer (e.g. a vocabulary or prompt bank) and returns its name.</summary>
    public string Initializer(string name, IReadOnlyList<string> values, params long[] dims)
    {
        CheckCount(name, values.Count, dims);
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.String };
        tensor.Dims.AddRange(dims);
        foreach (string v in values) tensor.StringData.Add(ByteString.CopyFromUtf8(v));
        _graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>Adds a scalar float constant.</summary>
    public string Scalar(float value, string? name = null) => Initializer(name ?? Fresh("const"), [value]);

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Node(string opType, string[] inputs, string? output = null, params AttributeProto[] attributes)
        => Nodes(opType, inputs, [output ?? Fresh(opType)], attributes)[0];

    /// <summary>Adds a node with several outputs and returns their names.</summary>
    public string[] Nodes(string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Fresh(opType + "_node") };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return outputs;
    }

    /// <summary>y = x·W + b for x [N, in], W [in, out] (row-major), b [out].</summary>
    public string Dense(string x, float[] weight, float[] bias, int inputs, int outputs, string prefix)
    {
        string w = Initializer(prefix + ".weight", weight, inputs, outputs);
        string b = Initializer(prefix + ".bias", bias, outputs);
        return Node("Gemm", [x, w, b], prefix + ".out");
    }

    /// <summary>Row-wise L2 normalisation x / max(‖x‖₂, eps), as torch.nn.functional.normalize.</summary>
    public string L2Normalize(string x, float eps = 1e-12f)
    {
        string norm = Node("ReduceL2", [x], null, Attr("axes", [1L]), Attr("keepdims", 1L));
        string clipped = Node("Max", [norm, Scalar(eps)]);
        return Node("Div", [x, clipped]);
    }

    /// <summary>Stores a key/value pair in the model's metadata_props (e.g. format version, vocabulary).</summary>
    public void Metadata(string key, string value) => _metadata[key] = value;

    /// <summary>Serialises the model (IR version 8).</summary>
    public byte[] ToBytes()
    {
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "ReverseSD.MLNet",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (k, v) in _metadata)
            model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model.ToByteArray();
    }

    public static AttributeProto Attr(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attr(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Attr(string name, long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Attr(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    private string Fresh(string prefix) => $"{prefix}_{_counter++}";

    private static void CheckCount(string name, int count, long[] dims)
    {
        long expected = 1;
        foreach (long d in dims) expected *= d;
        if (expected != count)
            throw new ArgumentException($"Initializer '{name}' has {count} values but its shape [{string.Join(",", dims)}] needs {expected}.");
    }

    private static ValueInfoProto ValueInfo(string name, long[] dims, TensorProto.Types.DataType type)
    {
        var shape = new TensorShapeProto();
        for (int i = 0; i < dims.Length; i++)
        {
            shape.Dim.Add(dims[i] >= 0
                ? new TensorShapeProto.Types.Dimension { DimValue = dims[i] }
                : new TensorShapeProto.Types.Dimension { DimParam = i == 0 ? "N" : $"d{i}" });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
