namespace ReverseSD.MLNet.Backbones;

/// <summary>
/// What the feature cache needs of a backbone: its name, its fingerprint (the cache key), its feature size and the compute
/// step (image paths in, feature rows out). A backbone read back from a saved model keys the same cache as the one it
/// was trained with.
/// </summary>
internal sealed record CachedBackbone(string Name, string Fingerprint, int FeatureSize, Func<IImageFeaturizer> CreateFeaturizer)
{
    /// <summary>The cache key and fast featuriser of <paramref name="backbone"/>.</summary>
    public static CachedBackbone Of(ImageBackbone backbone) =>
        new(backbone.Name, backbone.Fingerprint, backbone.FeatureSize, () => BatchedImageFeaturizer.Create(backbone));

    /// <summary>The cache key of a backbone read back from a saved model; null when the model predates recorded fingerprints.</summary>
    public static CachedBackbone? Of(ComposedBackbone composed) =>
        composed.Fingerprint == null ? null
            : new(composed.Name, composed.Fingerprint, composed.FeatureSize, () => BatchedImageFeaturizer.FromComposed(composed));
}
