// A training script in the shape of Model Builder's generated code: every stage is an ML.NET estimator.
// Run it from the repository root (it builds the library on first use):
//   dotnet run pipelines/train-resnet18-heads.cs                      # generates a small benchmark first
//   dotnet run pipelines/train-resnet18-heads.cs -- DATA_DIR model.zip  # your own image folder (train/validation/test)
// Edit it freely: change the backbone, the head configuration (paper Fig. 3), λ, epochs, ...
#:project ../src/ReverseSD.MLNet/ReverseSD.MLNet.csproj
#:property PublishAot=false

using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Text;

string dataDirectory = args.Length > 0 ? args[0] : Path.Combine("out", "pipeline-benchmark");
string modelPath = args.Length > 1 ? args[1] : Path.Combine("out", "pipeline-model.zip");
if (!File.Exists(Path.Combine(dataDirectory, "train", ImageFolderDataset.MetadataFileName)))
{
    Console.WriteLine($"Generating a small benchmark in {dataDirectory} ...");
    SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 600, Validation = 100, Test = 100, Seed = 1 }, dataDirectory);
}

var mlContext = new MLContext(seed: 1);
IDataView train = ImageFolderDataset.Load(mlContext, dataDirectory, "train");
IDataView validation = ImageFolderDataset.Load(mlContext, dataDirectory, "validation");
IDataView test = ImageFolderDataset.Load(mlContext, dataDirectory, "test");

// Image side (this is what the saved model runs): ImagePath -> 512-d ResNet18 features.
var imageFeatures = mlContext.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18, "ImageFeatures", "ImagePath").Fit(train);

// Text side (training targets only): Prompt -> all-MiniLM-L6-v2 embedding (Eq. 1) and multi-hot vocabulary labels (Eq. 2).
var targets = mlContext.Transforms.Text.EmbedSentences("PromptEmbedding", "Prompt")
    .Append(mlContext.Transforms.Text.ProduceVocabularyLabels("VocabularyLabels", "Prompt", vocabularySize: 1000))
    .Fit(train);

IDataView Prepare(IDataView split) => mlContext.Data.Cache(targets.Transform(imageFeatures.Transform(split)));

// Heads (paper §3, Fig. 3): configuration 3 feeds the predicted embedding to the vocabulary head; λ = 0.1.
var trainer = mlContext.Regression.Trainers.PromptEmbeddingHeads(new PromptEmbeddingHeadsTrainer.Options
{
    Configuration = HeadConfiguration.EmbeddingFeedsVocabulary,
    VocabularyWeight = 0.1f,
    NumberOfEpochs = 20,
    Seed = 1,
});
Console.WriteLine("Training the heads ...");
var heads = trainer.Fit(Prepare(train), Prepare(validation));

// Evaluate on the test split: mean cosine between predicted and true prompt embeddings.
var metrics = PromptEmbeddingEvaluator.Evaluate(heads.Transform(Prepare(test)));
Console.WriteLine($"test mean cosine: {metrics.MeanCosine:F4} ± {metrics.StandardError:F4} (n = {metrics.Count})");

// Save the image chain (image path -> backbone -> heads); load it in any app with Microsoft.ML + OnnxTransformer.
var model = new TransformerChain<ITransformer>(imageFeatures, heads);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
mlContext.Model.Save(model, train.Schema, modelPath);
Console.WriteLine($"saved {modelPath}");
