using System.Collections.Concurrent;
using System.Security.Cryptography;
using Google.Protobuf;
using ReverseSD.MLNet.Onnx.Proto;

namespace ReverseSD.MLNet.Backbones;

/// <summary>
/// A pretrained ONNX image encoder and the preprocessing it expects (paper §3: the backbone whose features feed the
/// heads). Presets: <see cref="ResNet18"/> (ML.NET's ImageNet ResNet18, 512-d) and <see cref="ResNet18At"/>; any other
/// exported encoder through <see cref="FromOnnx"/>.
/// </summary>
public sealed partial class ImageBackbone
{
    private const string ResNet18InputName = "Input247";
    private const string ResNet18OutputName = "Pooling395_Output_0";
    private const int ResNet18NativeSize = 224;
    private const int ResNet18MapChannels = 512;

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
}
