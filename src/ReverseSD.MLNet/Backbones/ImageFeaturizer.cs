using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Backbones;

/// <summary>The features of one image, or why it has none (it does not decode).</summary>
/// <param name="Features">The backbone's feature vector; null when the image is unreadable.</param>
/// <param name="Problem">Why the image cannot be used; null when it was featurised.</param>
internal readonly record struct FeaturizedImage(float[]? Features, string? Problem);

/// <summary>
/// The compute step of <see cref="FeatureCache"/>: image paths in, one <see cref="FeaturizedImage"/> per path out, in the
/// same order (unreadable images give a <see cref="FeaturizedImage.Problem"/> instead of features). The cache calls
/// <see cref="Featurize"/> once per chunk on one instance.
/// </summary>
internal interface IImageFeaturizer : IDisposable
{
    /// <summary>One result per path of <paramref name="imagePaths"/>, in order.</summary>
    IEnumerable<FeaturizedImage> Featurize(IReadOnlyList<string> imagePaths, CancellationToken cancellationToken);
}

/// <summary>
/// <see cref="IImageFeaturizer"/> on ML.NET's own chain (<see cref="ImageBackboneEstimator"/>): each image is first
/// decoded completely by <see cref="ImageValidation"/> (ML.NET's LoadImages throws on a bad file), then scored.
/// </summary>
internal sealed class MlNetImageFeaturizer : IImageFeaturizer
{
    private readonly MLContext _mlContext;
    private readonly ImageBackboneTransformer _transformer;
    private readonly SchemaDefinition _definition;

    public MlNetImageFeaturizer(MLContext mlContext, ImageBackbone backbone)
    {
        _mlContext = mlContext;
        _transformer = mlContext.Transforms.ApplyImageBackbone(backbone).Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<PathRow>()));
        _definition = SchemaDefinition.Create(typeof(FeatureRow));
        _definition[nameof(FeatureRow.ImageFeatures)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, backbone.FeatureSize);
    }

    public IEnumerable<FeaturizedImage> Featurize(IReadOnlyList<string> imagePaths, CancellationToken cancellationToken)
    {
        var problems = imagePaths.Select(ImageValidation.FindProblem).ToList();
        var readable = imagePaths.Where((_, i) => problems[i] == null).Select(p => new PathRow { ImagePath = p }).ToList();
        var scored = _transformer.Transform(_mlContext.Data.LoadFromEnumerable(readable));
        using var features = _mlContext.Data.CreateEnumerable<FeatureRow>(scored, reuseRowObject: false, schemaDefinition: _definition).GetEnumerator();
        for (int i = 0; i < imagePaths.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (problems[i] != null)
            {
                yield return new FeaturizedImage(null, problems[i]);
                continue;
            }
            if (!features.MoveNext()) throw new InvalidOperationException("The backbone returned fewer rows than it was given.");
            yield return new FeaturizedImage(features.Current.ImageFeatures, null);
        }
    }

    public void Dispose() => _transformer.Dispose();

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    private sealed class FeatureRow
    {
        public float[] ImageFeatures { get; set; } = [];
    }
}
