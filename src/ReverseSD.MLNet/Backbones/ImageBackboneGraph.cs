using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ReverseSD.MLNet.Onnx.Proto;

namespace ReverseSD.MLNet.Backbones;

// The backbone's ONNX graph: the encoder composed with its normalisation and pooling (Compose), and a composed graph
// read back out of a saved model (ReadComposed).
public sealed partial class ImageBackbone
{
    private const string PreprocessingKey = "reversesd.preprocessing";
    private const string NameKey = "reversesd.backbone";
    private const string FingerprintKey = "reversesd.fingerprint";

    /// <summary>
    /// Builds one ONNX model: input <paramref name="pixelsName"/> [N,3,H,W] (pixels in the spec's channel order,
    /// already multiplied by Scale) → mean/std normalisation → the encoder → Flatten → output <paramref name="featuresName"/> [N, D].
    /// </summary>
    internal byte[] Compose(string pixelsName, string featuresName)
    {
        if (_composed is { } last && last.Pixels == pixelsName && last.Features == featuresName)
            return last.Bytes;
        byte[] bytes = ComposeNow(pixelsName, featuresName);
        _composed = (pixelsName, featuresName, bytes);
        return bytes;
    }

    private byte[] ComposeNow(string pixelsName, string featuresName)
    {
        var model = ReadModel();
        var graph = model.Graph;
        int opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => (int)o.Version).DefaultIfEmpty(0).Max();
        if (opset < 7)
            throw new ReverseSdInputException($"Backbone model '{ModelPath}' uses ONNX opset {opset}; re-export it with opset 7 or later.");

        var initializerNames = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var realInputs = graph.Input.Where(i => !initializerNames.Contains(i.Name)).ToList();
        ValueInfoProto input;
        if (Preprocessing.InputName != null)
        {
            input = realInputs.FirstOrDefault(i => i.Name == Preprocessing.InputName)
                ?? throw new ReverseSdInputException(
                    $"Backbone model '{ModelPath}' has no input '{Preprocessing.InputName}'; its inputs are: {string.Join(", ", realInputs.Select(Describe))}.");
        }
        else if (realInputs.Count == 1)
        {
            input = realInputs[0];
        }
        else
        {
            throw new ReverseSdInputException(
                $"Backbone model '{ModelPath}' has {realInputs.Count} inputs ({string.Join(", ", realInputs.Select(Describe))}): name the image input with input=NAME.");
        }
        CheckInputShape(input);

        string outputName = Preprocessing.OutputName ?? graph.Output.FirstOrDefault()?.Name
            ?? throw new ReverseSdInputException($"Backbone model '{ModelPath}' declares no output; name the feature tensor with output=NAME.");
        bool produced = graph.Node.Any(n => n.Output.Contains(outputName)) || graph.Input.Any(i => i.Name == outputName);
        if (!produced)
            throw new ReverseSdInputException(
                $"Backbone model '{ModelPath}' has no tensor '{outputName}'; its outputs are: {string.Join(", ", graph.Output.Select(Describe))}.");
        var taken = graph.Node.SelectMany(n => n.Output).Concat(graph.Initializer.Select(t => t.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (string name in new[] { pixelsName, featuresName })
            if (taken.Contains(name))
                throw new ReverseSdInputException($"Backbone model '{ModelPath}' already has a tensor named '{name}'; choose another column name.");

        if (_globalPooling)
            UseGlobalPoolingBefore(graph, outputName);

        // New input with the spec's size and a dynamic batch dimension, so ML.NET maps it to a VectorType(3, H, W) column.
        var batch = new TensorShapeProto.Types.Dimension { DimParam = "N" };
        graph.Input.Remove(input);
        var pixels = new ValueInfoProto
        {
            Name = pixelsName,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() } },
        };
        pixels.Type.TensorType.Shape.Dim.Add(batch);
        foreach (long d in new long[] { 3, Preprocessing.Height, Preprocessing.Width })
            pixels.Type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        graph.Input.Insert(0, pixels);

        // Normalisation in front: (x - mean) / std, with x already scaled by ML.NET's ExtractPixels.
        var prefix = new List<NodeProto>();
        string meanName = featuresName + ".mean", stdName = featuresName + ".std";
        if (_subtractResNetMeanImage)
            graph.Initializer.Add(FloatTensor(meanName, ReadResNetMeanImage(), [1, 3, Preprocessing.Height, Preprocessing.Width]));
        else
            graph.Initializer.Add(FloatTensor(meanName, Preprocessing.Mean.ToArray(), [1, 3, 1, 1]));
        graph.Initializer.Add(FloatTensor(stdName, Preprocessing.Std.ToArray(), [1, 3, 1, 1]));
        prefix.Add(Node("Sub", [pixelsName, meanName], [featuresName + ".centred"]));
        prefix.Add(Node("Div", [featuresName + ".centred", stdName], [input.Name]));
        for (int i = prefix.Count - 1; i >= 0; i--) graph.Node.Insert(0, prefix[i]);

        // Flatten the chosen tensor to [N, D] as the only output; shapes are re-inferred by ONNX Runtime.
        var axis1 = new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 };
        if (_spatialGrid)
            AppendGridFeatures(graph, outputName, featuresName, axis1);
        else if (_featureMap)
            graph.Node.Add(Node("Flatten", [RemovePoolBefore(graph, outputName)], [featuresName], axis1));
        else
            graph.Node.Add(Node("Flatten", [outputName], [featuresName], axis1));
        graph.Output.Clear();
        graph.ValueInfo.Clear();
        var features = new ValueInfoProto
        {
            Name = featuresName,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() } },
        };
        features.Type.TensorType.Shape.Dim.Add(batch.Clone());
        graph.Output.Add(features);

        byte[] bytes = model.ToByteArray();
        int size = DryRun(bytes, pixelsName, featuresName, input);
        features.Type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = size });
        _featureSize = size;
        // The preprocessing travels with the graph, so the fast path can read a saved model's backbone back (ReadComposed).
        foreach (var (key, value) in new[] { (PreprocessingKey, Preprocessing.ToString()), (NameKey, Name), (FingerprintKey, Fingerprint) })
        {
            var old = model.MetadataProps.FirstOrDefault(p => p.Key == key);
            if (old != null) model.MetadataProps.Remove(old);
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }
        return model.ToByteArray();
    }

    /// <summary>
    /// Reads a graph made by <see cref="Compose"/> (e.g. out of a saved model zip) back: its preprocessing, input,
    /// output and feature size; null when <paramref name="onnxModel"/> is not one (no preprocessing recorded).
    /// </summary>
    internal static ComposedBackbone? ReadComposed(byte[] onnxModel)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(onnxModel);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
        return ReadComposed(model, onnxModel);
    }

    /// <summary>As <see cref="ReadComposed(byte[])"/>, on <paramref name="model"/> already parsed from <paramref name="onnxModel"/>.</summary>
    internal static ComposedBackbone? ReadComposed(ModelProto model, byte[] onnxModel)
    {
        string? spec = model.MetadataProps.FirstOrDefault(p => p.Key == PreprocessingKey)?.Value;
        string name = model.MetadataProps.FirstOrDefault(p => p.Key == NameKey)?.Value ?? "backbone";
        string? fingerprint = model.MetadataProps.FirstOrDefault(p => p.Key == FingerprintKey)?.Value;
        if (spec == null || model.Graph.Input.Count < 1 || model.Graph.Output.Count != 1) return null;
        var dims = model.Graph.Output[0].Type?.TensorType?.Shape?.Dim;
        if (dims is not { Count: 2 } || dims[1].ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue) return null;
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1) return null;
        ImagePreprocessing preprocessing;
        try
        {
            preprocessing = ImagePreprocessing.Parse(spec);
        }
        catch (ReverseSdInputException)
        {
            return null;
        }
        return new ComposedBackbone(name, onnxModel, inputs[0].Name, model.Graph.Output[0].Name, checked((int)dims[1].DimValue), preprocessing, fingerprint);
    }

    private void CheckInputShape(ValueInfoProto input)
    {
        var tensor = input.Type?.TensorType;
        var dims = tensor?.Shape?.Dim;
        long[] expected = [-1, 3, Preprocessing.Height, Preprocessing.Width];
        bool ok = tensor != null && tensor.ElemType == (int)TensorProto.Types.DataType.Float && dims != null && dims.Count == 4;
        for (int i = 1; ok && i < 4; i++)
            if (dims![i].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && dims[i].DimValue != expected[i]
                && !(_globalPooling && i >= 2))
                ok = false;
        if (ok && dims![0].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && dims[0].DimValue != 1)
            ok = false;
        if (!ok)
            throw new ReverseSdInputException(
                $"Backbone model '{ModelPath}' input {Describe(input)} does not match the preprocessing spec, which gives float [N,3,{Preprocessing.Height},{Preprocessing.Width}] " +
                $"(size={Preprocessing.Width}x{Preprocessing.Height}, NCHW): set size= to the model's input size, or export the model with that input.");
    }

    private int DryRun(byte[] bytes, string pixelsName, string featuresName, ValueInfoProto originalInput)
    {
        try
        {
            using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
            using var session = new InferenceSession(bytes, options);
            var tensor = new DenseTensor<float>([1, 3, Preprocessing.Height, Preprocessing.Width]);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor(pixelsName, tensor)], [featuresName]);
            var output = results.First().AsTensor<float>();
            return checked((int)(output.Length));
        }
        catch (OnnxRuntimeException e)
        {
            throw new ReverseSdInputException(
                $"Backbone model '{ModelPath}' (input {Describe(originalInput)}) failed on a [1,3,{Preprocessing.Height},{Preprocessing.Width}] image from the preprocessing spec " +
                $"({Preprocessing}): {e.Message.Split('\n')[0]}", e);
        }
    }

    /// <summary>
    /// Output = [pooled features, the pool's input map average-pooled over 3×3 cells with stride 2] (a 7×7 map gives a 3×3 grid):
    /// Flatten both, Concat on axis 1.
    /// </summary>
    private void AppendGridFeatures(GraphProto graph, string outputName, string featuresName, AttributeProto axis1)
    {
        var pool = graph.Node.FirstOrDefault(n => n.Output.Contains(outputName) && n.OpType is "AveragePool" or "GlobalAveragePool")
            ?? throw new InvalidOperationException($"'{ModelPath}' has no average pool producing '{outputName}'; it is not ML.NET's ResNet18.");
        AttributeProto Ints(string name, params long[] values)
        {
            var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            a.Ints.AddRange(values);
            return a;
        }
        string grid = featuresName + ".grid", gridFlat = featuresName + ".grid.flat", pooledFlat = featuresName + ".pooled.flat";
        graph.Node.Add(Node("AveragePool", [pool.Input[0]], [grid], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2)));
        graph.Node.Add(Node("Flatten", [grid], [gridFlat], axis1));
        graph.Node.Add(Node("Flatten", [outputName], [pooledFlat], axis1.Clone()));
        graph.Node.Add(Node("Concat", [pooledFlat, gridFlat], [featuresName], new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
    }

    /// <summary>Removes the average pool that produces <paramref name="outputName"/> and returns its input, the last feature map [N, C, H, W].</summary>
    private string RemovePoolBefore(GraphProto graph, string outputName)
    {
        var pool = graph.Node.FirstOrDefault(n => n.Output.Contains(outputName) && n.OpType is "AveragePool" or "GlobalAveragePool")
            ?? throw new InvalidOperationException($"'{ModelPath}' has no average pool producing '{outputName}'; it is not ML.NET's ResNet18.");
        if (graph.Node.Any(n => n.Input.Contains(outputName)))
            throw new InvalidOperationException($"'{ModelPath}': '{outputName}' feeds other nodes; it is not ML.NET's ResNet18.");
        graph.Node.Remove(pool);
        return pool.Input[0];
    }

    /// <summary>Replaces the average pool that feeds <paramref name="outputName"/> with a global average pool, so the encoder accepts any input size.</summary>
    private void UseGlobalPoolingBefore(GraphProto graph, string outputName)
    {
        var pool = graph.Node.FirstOrDefault(n => n.Output.Contains(outputName) && n.OpType == "AveragePool")
            ?? throw new InvalidOperationException($"'{ModelPath}' has no AveragePool producing '{outputName}'; it is not ML.NET's ResNet18.");
        pool.OpType = "GlobalAveragePool";
        pool.Attribute.Clear();
    }

    private static string Describe(ValueInfoProto v)
    {
        var t = v.Type?.TensorType;
        if (t?.Shape == null) return $"'{v.Name}'";
        string dims = string.Join(",", t.Shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture) : (d.DimParam.Length > 0 ? d.DimParam : "?")));
        string type = ((TensorProto.Types.DataType)t.ElemType).ToString().ToLowerInvariant();
        return $"'{v.Name}' {type} [{dims}]";
    }

    private static TensorProto FloatTensor(string name, float[] values, long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = outputs[0] + ".node" };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }
}
