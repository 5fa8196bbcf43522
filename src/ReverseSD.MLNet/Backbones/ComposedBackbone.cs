namespace ReverseSD.MLNet.Backbones;

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
