using Microsoft.ML;

namespace ReverseSD.MLNet.Backbones;

/// <summary>Catalog extension that applies a pretrained image backbone (paper §3).</summary>
public static class BackboneCatalog
{
    /// <summary>Runs <paramref name="backbone"/> over the images named in <paramref name="inputColumnName"/> and adds their features as <paramref name="outputColumnName"/>.</summary>
    public static ImageBackboneEstimator ApplyImageBackbone(
        this TransformsCatalog catalog,
        ImageBackbone backbone,
        string outputColumnName = ImageBackboneOptions.Defaults.OutputColumnName,
        string inputColumnName = ImageBackboneOptions.Defaults.InputColumnName)
        => ApplyImageBackbone(catalog, new ImageBackboneOptions
        {
            Backbone = backbone ?? throw new ArgumentNullException(nameof(backbone)),
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName,
        });

    /// <summary>Runs the backbone described by <paramref name="options"/>.</summary>
    public static ImageBackboneEstimator ApplyImageBackbone(this TransformsCatalog catalog, ImageBackboneOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new ImageBackboneEstimator(catalog, options);
    }
}
