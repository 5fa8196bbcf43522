using System.Collections.Concurrent;
using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ReverseSD.MLNet.Onnx.Proto;

namespace ReverseSD.MLNet.Backbones;

/// <summary>
/// A pretrained ONNX image encoder and the preprocessing it expects (paper §3: the backbone whose features feed the
/// heads). Presets: <see cref="ResNet18"/> (ML.NET's ImageNet ResNet18, 512-d) and <see cref="ResNet18At"/>; any other
/// exported encoder through <see cref="FromOnnx"/>.
/// </summary>
public sealed class ImageBackbone
{
    private const string ResNet18InputName = "Input247";
    private const string ResNet18OutputName = "Pooling395_Output_0";
    private const int ResNet18NativeSize = 224;
    private const int ResNet18MapChannels = 512;
    private const string PreprocessingKey = "reversesd.preprocessing";
    private const string NameKey = "reversesd.backbone";
    private const string FingerprintKey = "reversesd.fingerprint";

    private static readonly ConcurrentDictionary<(string Path, long Length, DateTime Time), string> FileHashes = new();

    // Channel averages (B, G, R) of ML.NET's ResNet18 mean image (ResNetPreprocess.onnx, "MeanImage"), measured from the file.
    private static readonly float[] ResNet18ChannelMeans = [103.06262f, 115.902885f, 123.151634f];

    private readonly bool _subtractResNetMeanImage;
    private readonly bool _globalPooling;
    private readonly bool _spatialGrid;
    private readonly bool _featureMap;
    private int _featureSize;
    private (string Pixels, string Features, byte[] Bytes)? _composed;
    private byte[]? _modelBytes;

    private ImageBackbone(string name, string modelPath, ImagePreprocessing preprocessing, bool subtractResNetMeanImage, bool globalPooling,
        bool spatialGrid = false, bool featureMap = false)
    {
        _spatialGrid = spatialGrid;
        _featureMap = featureMap;
        Name = name;
        ModelPath = modelPath;
        Preprocessing = preprocessing;
        _subtractResNetMeanImage = subtractResNetMeanImage;
        _globalPooling = globalPooling;
    }

    /// <summary>Short name used in file names and reports (e.g. "resnet18", "resnet18-288").</summary>
    public string Name { get; }

    /// <summary>Path of the ONNX encoder file.</summary>
    public string ModelPath { get; }

    /// <summary>The preprocessing applied before the encoder.</summary>
    public ImagePreprocessing Preprocessing { get; }

    /// <summary>
    /// ML.NET's ResNet18 (Microsoft.ML.DnnImageFeaturizer.ResNet18): 224×224 centre crop, BGR planes in 0..255 minus
    /// the package's per-pixel mean image, exactly as ML.NET's <c>DnnFeaturizeImage</c> with <c>ResNet18</c>; 512-d features.
    /// </summary>
    public static ImageBackbone ResNet18 => ResNet18At(ResNet18NativeSize);

    /// <summary>
    /// <see cref="ResNet18"/> with where things are kept (issue 14): its 512 pooled features followed by the last feature map
    /// [512, 7, 7] average-pooled over a 3×3 grid of overlapping 3×3 cells (4,608 values), 5,120 in all; the heads' first
    /// layer then learns how to weigh the cells. Same backbone run, so featurising costs the same.
    /// </summary>
    public static ImageBackbone ResNet18Grid
    {
        get
        {
            var plain = ResNet18;
            return new ImageBackbone("resnet18-grid", plain.ModelPath, plain.Preprocessing, subtractResNetMeanImage: true, globalPooling: false, spatialGrid: true);
        }
    }

    /// <summary>
    /// <see cref="ResNet18"/> without its final average pool (issue 14): the last feature map [512, 7, 7] flattened channel-major,
    /// 25,088 values per image, for heads that learn their own pooling (<see cref="Heads.PromptEmbeddingHeadsTrainer.Options.FeatureMapChannels"/>).
    /// Same backbone run, so featurising costs the same; the feature cache holds 100 KB per image.
    /// </summary>
    public static ImageBackbone ResNet18Map
    {
        get
        {
            var plain = ResNet18;
            return new ImageBackbone("resnet18-map", plain.ModelPath, plain.Preprocessing, subtractResNetMeanImage: true, globalPooling: false, featureMap: true);
        }
    }

    /// <summary>Channels of the feature map this backbone outputs (512 for <see cref="ResNet18Map"/>); 0 when it outputs a feature vector.</summary>
    public int FeatureMapChannels => _featureMap ? ResNet18MapChannels : 0;

    /// <summary>
    /// ML.NET's ResNet18 run at another square input size (64..1024 px; a second view of the images for the ensemble,
    /// paper §4.9): the final 7×7 average pool becomes a global average pool, and the per-pixel mean image its channel
    /// averages. <paramref name="size"/> = 224 gives <see cref="ResNet18"/>.
    /// </summary>
    public static ImageBackbone ResNet18At(int size)
    {
        if (size < 64 || size > 1024)
            throw new ReverseSdInputException($"ResNet18 input size {size} is out of range: use 64..1024 pixels (224 is its native size).");
        bool native = size == ResNet18NativeSize;
        var spec = new ImagePreprocessing
        {
            Width = size,
            Height = size,
            Resize = ImageResizeMode.CenterCrop,
            Order = ChannelOrder.Bgr,
            Scale = 1f,
            Mean = ResNet18ChannelMeans,
            Std = [1f, 1f, 1f],
            InputName = ResNet18InputName,
            OutputName = ResNet18OutputName,
        };
        return new ImageBackbone(native ? "resnet18" : $"resnet18-{size}", ResNet18ModelPath(), spec, subtractResNetMeanImage: native, globalPooling: !native);
    }

    /// <summary>Any ONNX image encoder with an NCHW float input, given the preprocessing it was trained with.</summary>
    public static ImageBackbone FromOnnx(string modelPath, ImagePreprocessing preprocessing, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(preprocessing);
        if (string.IsNullOrWhiteSpace(modelPath) || !File.Exists(modelPath))
            throw new ReverseSdInputException($"Backbone model '{modelPath}' does not exist: give the path of an ONNX image encoder.");
        preprocessing.Validated();
        string full = Path.GetFullPath(modelPath);
        return new ImageBackbone(name ?? Path.GetFileNameWithoutExtension(full).ToLowerInvariant(), full, preprocessing, false, false);
    }

    /// <summary>
    /// Resolves a backbone by name for the CLI: "resnet18", "resnet18-SIZE" (e.g. resnet18-288), "resnet18-grid", "resnet18-map", or the path of an
    /// .onnx file, which then needs <paramref name="preprocessing"/> (compact string or JSON file, see <see cref="ImagePreprocessing"/>).
    /// </summary>
    public static ImageBackbone Resolve(string nameOrPath, string? preprocessing = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        string lower = nameOrPath.Trim().ToLowerInvariant();
        bool preset = lower == "resnet18" || (lower.StartsWith("resnet18-", StringComparison.Ordinal) && !lower.EndsWith(".onnx", StringComparison.Ordinal));
        if (preset && preprocessing != null)
            throw new ReverseSdInputException($"Backbone '{nameOrPath}' is a preset with its own preprocessing; a preprocessing spec applies only to an .onnx file.");
        if (lower == "resnet18") return ResNet18;
        if (lower == "resnet18-grid") return ResNet18Grid;
        if (lower == "resnet18-map") return ResNet18Map;
        if (preset)
        {
            return int.TryParse(lower["resnet18-".Length..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int size)
                ? ResNet18At(size)
                : throw new ReverseSdInputException($"Backbone '{nameOrPath}': the size after 'resnet18-' must be a number of pixels, e.g. resnet18-288.");
        }
        if (lower.EndsWith(".onnx", StringComparison.Ordinal) || File.Exists(nameOrPath))
        {
            if (preprocessing == null)
                throw new ReverseSdInputException(
                    $"Backbone '{nameOrPath}' needs a preprocessing spec (e.g. 'size=224,mean=0.485;0.456;0.406,std=0.229;0.224;0.225,output=...') or a JSON spec file.");
            return FromOnnx(nameOrPath, ImagePreprocessing.ParseOrLoad(preprocessing));
        }
        throw new ReverseSdInputException(
            $"Backbone '{nameOrPath}' is unknown: use resnet18, resnet18-SIZE (e.g. resnet18-288), resnet18-grid, resnet18-map or the path of an .onnx encoder with a preprocessing spec.");
    }

    /// <summary>Length of the feature vector, found by running the encoder once on a blank image (cached).</summary>
    public int FeatureSize
    {
        get
        {
            if (_featureSize == 0)
                Compose(ImageBackboneOptions.Defaults.OutputColumnName + ".Pixels", ImageBackboneOptions.Defaults.OutputColumnName);
            return _featureSize;
        }
    }

    /// <summary>
    /// Identifies what this backbone computes: SHA-256 of the model file, the preprocessing spec and the preset's
    /// model changes. Two backbones with the same fingerprint give the same features.
    /// </summary>
    public string Fingerprint
    {
        get
        {
            string variant = (_subtractResNetMeanImage ? "mean-image;" : "") + (_globalPooling ? "global-pool;" : "") + (_spatialGrid ? "grid3x3;" : "") + (_featureMap ? "map;" : "");
            string meanImageHash = _subtractResNetMeanImage ? ";" + HashFile(ResNet18PreprocessPath()) : "";
            string modelHash = _modelBytes == null ? HashFile(ModelPath) : Convert.ToHexStringLower(SHA256.HashData(_modelBytes));
            return $"{modelHash}{meanImageHash};{variant}{Preprocessing}";
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Preprocessing})";

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

    /// <summary>True for the ResNet18 presets and backbones fine-tuned from them: their graph is ML.NET's ResNet18.</summary>
    internal bool IsResNet18 => _subtractResNetMeanImage || _globalPooling;

    /// <summary>True for <see cref="ResNet18Grid"/> (and backbones fine-tuned from it): pooled features followed by the 3×3 grid of the last map.</summary>
    internal bool HasSpatialGrid => _spatialGrid;

    /// <summary>
    /// The same backbone (preprocessing, pooling, mean image) with the encoder graph <paramref name="model"/> instead of
    /// the file's, e.g. ResNet18 with fine-tuned weights; <see cref="ModelPath"/> stays the file the graph came from.
    /// </summary>
    internal ImageBackbone WithModel(byte[] model, string name)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return new ImageBackbone(name, ModelPath, Preprocessing, _subtractResNetMeanImage, _globalPooling, _spatialGrid, _featureMap) { _modelBytes = model };
    }

    /// <summary>The encoder graph as given (before <see cref="Compose"/> adds preprocessing and pooling).</summary>
    internal ModelProto ReadModel()
    {
        if (_modelBytes == null && !File.Exists(ModelPath))
            throw new ReverseSdInputException(Name.StartsWith("resnet18", StringComparison.Ordinal)
                ? $"ResNet18 model not found at '{ModelPath}': it ships in the Microsoft.ML.DnnImageFeaturizer.ResNet18 package, which copies DnnImageModels/ into the build output."
                : $"Backbone model '{ModelPath}' does not exist.");
        try
        {
            return ModelProto.Parser.ParseFrom(_modelBytes ?? File.ReadAllBytes(ModelPath));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ReverseSdInputException($"Backbone model '{ModelPath}' is not a readable ONNX file: {e.Message}", e);
        }
    }

    /// <summary>
    /// The normalisation the composed graph applies to the pixels: (pixels − Mean) / Std, Mean shaped [1,3,H,W] (ResNet18's
    /// mean image) or [1,3,1,1], Std shaped [1,3,1,1].
    /// </summary>
    internal (float[] Mean, long[] MeanShape, float[] Std) Normalization() => _subtractResNetMeanImage
        ? (ReadResNetMeanImage(), [1, 3, Preprocessing.Height, Preprocessing.Width], Preprocessing.Std.ToArray())
        : (Preprocessing.Mean.ToArray(), [1, 3, 1, 1], Preprocessing.Std.ToArray());

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

    private static float[] ReadResNetMeanImage()
    {
        string path = ResNet18PreprocessPath();
        if (!File.Exists(path))
            throw new ReverseSdInputException($"ResNet18 preprocessing model not found at '{path}' (Microsoft.ML.DnnImageFeaturizer.ResNet18 copies it into DnnImageModels/).");
        var mean = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Initializer.Single(t => t.Name == "MeanImage");
        return mean.FloatData.Count > 0
            ? mean.FloatData.ToArray()
            : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(mean.RawData.Span).ToArray();
    }

    private static string DnnImageModelsDirectory()
    {
        string beside = Path.Combine(AppContext.BaseDirectory, "DnnImageModels");
        if (Directory.Exists(beside)) return beside;
        string? assemblyDir = Path.GetDirectoryName(typeof(Microsoft.ML.ResNet18Extension).Assembly.Location);
        return string.IsNullOrEmpty(assemblyDir) ? beside : Path.Combine(assemblyDir, "DnnImageModels");
    }

    private static string ResNet18ModelPath() => Path.Combine(DnnImageModelsDirectory(), "ResNet18Onnx", "ResNet18.onnx");

    private static string ResNet18PreprocessPath() => Path.Combine(DnnImageModelsDirectory(), "ResNetPrepOnnx", "ResNetPreprocess.onnx");

    private static string HashFile(string path)
    {
        if (!File.Exists(path))
            throw new ReverseSdInputException($"Backbone model '{path}' does not exist.");
        var info = new FileInfo(path);
        return FileHashes.GetOrAdd((info.FullName, info.Length, info.LastWriteTimeUtc), _ =>
        {
            using var stream = File.OpenRead(path);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        });
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

/// <summary>A backbone graph made by <see cref="ImageBackbone"/>'s Compose, read back with its preprocessing.</summary>
/// <param name="Name">The backbone's name.</param>
/// <param name="Model">The ONNX graph's bytes.</param>
/// <param name="InputName">The pixels input.</param>
/// <param name="OutputName">The features output.</param>
/// <param name="FeatureSize">Length of a feature vector.</param>
/// <param name="Preprocessing">The preprocessing the graph expects.</param>
/// <param name="Fingerprint">The source backbone's <see cref="ImageBackbone.Fingerprint"/> (the feature cache's key); null in models saved before it was recorded.</param>
internal sealed record ComposedBackbone(string Name, byte[] Model, string InputName, string OutputName, int FeatureSize, ImagePreprocessing Preprocessing,
    string? Fingerprint);
