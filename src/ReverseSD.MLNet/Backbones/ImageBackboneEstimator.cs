using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using ReverseSD.MLNet.Onnx;

namespace ReverseSD.MLNet.Backbones;

/// <summary>Options of <see cref="ImageBackboneEstimator"/>.</summary>
public sealed class ImageBackboneOptions
{
    /// <summary>A copy, so that changing these options after an estimator is built changes nothing.</summary>
    internal ImageBackboneOptions Clone() => (ImageBackboneOptions)MemberwiseClone();

    /// <summary>The encoder and its preprocessing; defaults to <see cref="ImageBackbone.ResNet18"/>.</summary>
    public ImageBackbone? Backbone { get; set; }

    /// <summary>Text column holding image file paths.</summary>
    public string InputColumnName { get; set; } = Defaults.InputColumnName;

    /// <summary>Output column: a vector of <see cref="ImageBackbone.FeatureSize"/> floats.</summary>
    public string OutputColumnName { get; set; } = Defaults.OutputColumnName;

    /// <summary>Folder that relative image paths are resolved against; null uses them as given.</summary>
    public string? ImageFolder { get; set; }

    /// <summary>CUDA device for ONNX Runtime (build with ReverseSdOnnxRuntime=cuda); null runs on the CPU.</summary>
    public int? GpuDeviceId { get; set; }

    /// <summary>Default column names.</summary>
    public static class Defaults
    {
        /// <summary>"ImagePath".</summary>
        public const string InputColumnName = ColumnNames.ImagePath;

        /// <summary>"ImageFeatures".</summary>
        public const string OutputColumnName = ColumnNames.ImageFeatures;
    }
}

/// <summary>
/// Runs a pretrained ONNX image encoder over image files (paper §3, the backbone): ML.NET's <c>LoadImages</c> →
/// <c>ResizeImages</c> → <c>ExtractPixels</c> → <c>ApplyOnnxModel</c> (the encoder with its mean/std normalisation in
/// front), so the fitted chain saves in a model zip and scores in plain ML.NET.
/// </summary>
/// <remarks>
/// | | |
/// |---|---|
/// | Input column | text: image file path |
/// | Output column | vector of float (the encoder's feature size, 512 for ResNet18) |
/// | Needs training data | no (Fit only reads the schema) |
/// | GPU | optional (ONNX Runtime CUDA build) |
///
/// An unreadable image makes ML.NET's <c>LoadImages</c> throw while scoring; filter rows first with
/// <see cref="ImageValidation"/> (as <see cref="FeatureCache"/> does).
/// </remarks>
public sealed class ImageBackboneEstimator : IEstimator<ImageBackboneTransformer>
{
    private readonly TransformsCatalog _transforms;
    private readonly ImageBackboneOptions _options;
    private readonly ImageBackbone _backbone;

    /// <summary>Creates the estimator; prefer <see cref="BackboneCatalog.ApplyImageBackbone(TransformsCatalog, ImageBackbone, string, string)"/>.</summary>
    public ImageBackboneEstimator(MLContext mlContext, ImageBackboneOptions options)
        : this((mlContext ?? throw new ArgumentNullException(nameof(mlContext))).Transforms, options)
    {
    }

    internal ImageBackboneEstimator(TransformsCatalog transforms, ImageBackboneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.InputColumnName, nameof(options.InputColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.OutputColumnName, nameof(options.OutputColumnName));
        if (options.GpuDeviceId is < 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"{nameof(options.GpuDeviceId)} must be a device number >= 0 or null.");
        _transforms = transforms;
        _options = options.Clone();
        _backbone = options.Backbone ?? ImageBackbone.ResNet18;
    }

    /// <summary>The options this estimator was built with (a copy).</summary>
    internal ImageBackboneOptions Options => _options;

    /// <summary>The backbone this estimator applies.</summary>
    public ImageBackbone Backbone => _backbone;

    /// <inheritdoc/>
    /// <remarks>
    /// Computed without building the chain: ML.NET's ONNX estimator opens a session and writes its graph to a temporary
    /// file when it is built, which a schema check (every <c>Append</c> and <c>Fit</c> of a pipeline) would leave behind.
    /// </remarks>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        InputColumns.RequireText(inputSchema, _options.InputColumnName, Role);
        string output = _options.OutputColumnName, image = output + ".Image", pixels = output + ".Pixels";
        var kept = new SchemaShape(inputSchema.Where(c => c.Name != image && c.Name != pixels));
        return SchemaShapes.WithColumns(kept, (output, SchemaShapes.FloatVector));
    }

    /// <inheritdoc/>
    public ImageBackboneTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        InputColumns.RequireText(input.Schema, _options.InputColumnName, Role);
        string output = _options.OutputColumnName;
        byte[] model = _backbone.Compose(output + ".Pixels", output);
        // Through a file of ours, not a stream: ML.NET never deletes its temporary copy of a stream (TemporaryOnnxFile).
        string path = TemporaryOnnxFile.Write(model);
        try
        {
            return new ImageBackboneTransformer(Chain(path).Fit(input), _backbone, output, path);
        }
        catch
        {
            TemporaryOnnxFile.Delete(path);
            throw;
        }
    }

    private const string Role = "image backbone (image file paths)";

    /// <summary>
    /// A new chain of ML.NET stages on the composed graph at <paramref name="modelPath"/>; ML.NET's ONNX estimator creates
    /// its session when built and returns that same transformer from every Fit, so each Fit builds its own chain and
    /// disposing one fitted backbone leaves others intact.
    /// </summary>
    private IEstimator<ITransformer> Chain(string modelPath)
    {
        var spec = _backbone.Preprocessing;
        string output = _options.OutputColumnName;
        string image = output + ".Image", pixels = output + ".Pixels";
        var t = _transforms;
        return t.LoadImages(image, _options.ImageFolder, _options.InputColumnName)
            .Append(t.ResizeImages(image, spec.Width, spec.Height, image, spec.Resize switch
            {
                ImageResizeMode.Stretch => ImageResizingEstimator.ResizingKind.Fill,
                ImageResizeMode.Pad => ImageResizingEstimator.ResizingKind.IsoPad,
                _ => ImageResizingEstimator.ResizingKind.IsoCrop,
            }, ImageResizingEstimator.Anchor.Center))
            .Append(t.ExtractPixels(pixels, image,
                ImagePixelExtractingEstimator.ColorBits.Rgb,
                spec.Order == ChannelOrder.Bgr ? ImagePixelExtractingEstimator.ColorsOrder.ABGR : ImagePixelExtractingEstimator.ColorsOrder.ARGB,
                interleavePixelColors: false, offsetImage: 0f, scaleImage: spec.Scale))
            .Append(t.ApplyOnnxModel([output], [pixels], modelPath, gpuDeviceId: _options.GpuDeviceId, fallbackToCpu: true))
            .Append(t.DropColumns(image, pixels));
    }
}

/// <summary>
/// The fitted backbone (<see cref="ImageBackboneEstimator"/>): adds the feature column. Saving writes ML.NET's own
/// image and ONNX stages, so <c>mlContext.Model.Load</c> returns a plain ML.NET transformer chain.
/// </summary>
public sealed class ImageBackboneTransformer : ITransformer, IDisposable
{
    private readonly ITransformer _chain;
    private readonly string? _graphFile;
    private bool _disposed;

    internal ImageBackboneTransformer(ITransformer chain, ImageBackbone backbone, string outputColumnName, string? graphFile = null)
    {
        _chain = chain;
        _graphFile = graphFile;
        Backbone = backbone;
        OutputColumnName = outputColumnName;
    }

    /// <summary>The backbone applied.</summary>
    public ImageBackbone Backbone { get; }

    /// <summary>The temporary copy of the composed graph ML.NET's ONNX stage reads (deleted on Dispose); null when loaded from a zip.</summary>
    internal string? GraphFile => _graphFile;

    /// <summary>Name of the feature column this transformer adds.</summary>
    public string OutputColumnName { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => _chain.IsRowToRowMapper;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _chain.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _chain.GetRowToRowMapper(inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _chain.Transform(input);
    }

    /// <inheritdoc/>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _chain.Save(ctx);

    /// <summary>Releases the ONNX Runtime session and deletes the temporary copy of its graph.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        (_chain as IDisposable)?.Dispose();
        TemporaryOnnxFile.Delete(_graphFile);
    }
}
